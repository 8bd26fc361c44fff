/* Recording time left on the battery: the cell model of hardware/power-budget.md ("Time left on
 * the battery"), an estimate stated as one. Cell voltage -> share of its charge still usable
 * above the firmware's stop (REC_BATTERY_STOP_MV) -> mAh -> seconds at the recording current of the
 * sample rate (the RP2040 runs a faster clock for the higher rates, and the card writes more). */
#ifndef REC_POWER_H
#define REC_POWER_H

#include <stdbool.h>
#include <stdint.h>

#include "rec_protocol.h"

/* The figures are the protocol schema's BATTERY_MODEL (RP_BATTERY_*), which the provisioning
 * hand-out's hours come from too. The cell fitted (hardware/README.md: 400 or 1000 mAh); a build
 * for the larger cell sets it. */
#ifndef REC_BATTERY_CAPACITY_MAH
#define REC_BATTERY_CAPACITY_MAH RP_BATTERY_SMALL_CELL_MAH
#endif

/* Per mille of the cell's charge left above the stop voltage at `mv` (0 at or below it). */
uint32_t rec_battery_charge_permille(uint16_t mv);
/* Average current while recording at `sample_rate` (one of RP_SAMPLE_RATES; another counts as the
 * highest), the LED steadily on or not, microamperes. */
uint32_t rec_battery_recording_current_ua(uint32_t sample_rate, bool led_on);
/* Seconds of recording the cell has left at `mv`, recording at `sample_rate` with the LED on or
 * not; RP_TIME_LEFT_UNKNOWN when mv is 0 (the port cannot measure its battery). */
uint32_t rec_battery_seconds_left(uint16_t mv, uint32_t sample_rate, bool led_on);

#endif
