/* Recording time left on the battery: the cell model of hardware/power-budget.md ("Time left on
 * the battery"), an estimate stated as one. Cell voltage -> share of its charge still usable
 * above the firmware's stop (REC_BATTERY_STOP_MV) -> mAh -> seconds at the recording current. */
#ifndef REC_POWER_H
#define REC_POWER_H

#include <stdint.h>

/* The cell fitted (hardware/README.md: 400 or 1000 mAh); a build for the larger cell sets it. */
#ifndef REC_BATTERY_CAPACITY_MAH
#define REC_BATTERY_CAPACITY_MAH 400u
#endif
/* Average current while recording, microamperes: the top of the 14-22 mA estimate (48 MHz), so
 * the figure errs short. */
#ifndef REC_RECORDING_CURRENT_UA
#define REC_RECORDING_CURRENT_UA 22000u
#endif
/* Share of the table's charge counted on, per mille: f_usable of power-budget.md (ageing, cold). */
#define REC_BATTERY_USABLE_PERMILLE 850u

/* Per mille of the cell's charge left above the stop voltage at `mv` (0 at or below it). */
uint32_t rec_battery_charge_permille(uint16_t mv);
/* Seconds of recording the cell has left at `mv`; RP_TIME_LEFT_UNKNOWN when mv is 0 (the port
 * cannot measure its battery). */
uint32_t rec_battery_seconds_left(uint16_t mv);

#endif
