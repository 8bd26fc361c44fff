/* The cell model (power.h, hardware/power-budget.md): a LiPo's resting voltage against its state
 * of charge, the 3300 mV stop taken as empty. */
#include "rec/power.h"

#include "rec_protocol.h"

/* Resting voltage (mV) and charge left (per mille), falling; the last point is the firmware's
 * stop (REC_BATTERY_STOP_MV): what is below it is never used. Source and assumptions in
 * hardware/power-budget.md. */
static const struct {
    uint16_t mv;
    uint16_t permille;
} CURVE[] = {
    { 4200, 1000 }, { 4150, 950 }, { 4110, 900 }, { 4080, 850 }, { 4020, 800 }, { 3980, 750 },
    { 3950, 700 },  { 3910, 650 }, { 3870, 600 }, { 3850, 550 }, { 3840, 500 }, { 3820, 450 },
    { 3800, 400 },  { 3790, 350 }, { 3770, 300 }, { 3750, 250 }, { 3730, 200 }, { 3710, 150 },
    { 3690, 100 },  { 3610, 50 },  { 3300, 0 },
};
#define CURVE_POINTS (sizeof CURVE / sizeof CURVE[0])

uint32_t rec_battery_charge_permille(uint16_t mv)
{
    if (mv >= CURVE[0].mv) return CURVE[0].permille;
    for (unsigned i = 1; i < CURVE_POINTS; i++) {
        if (mv >= CURVE[i].mv) {
            /* linear between the two points around mv */
            uint32_t span_mv = (uint32_t)CURVE[i - 1].mv - CURVE[i].mv;
            uint32_t span_pm = (uint32_t)CURVE[i - 1].permille - CURVE[i].permille;
            return CURVE[i].permille + ((uint32_t)mv - CURVE[i].mv) * span_pm / span_mv;
        }
    }
    return 0;
}

uint32_t rec_battery_recording_current_ua(uint32_t sample_rate, bool led_on)
{
    static const uint32_t rates[] = RP_SAMPLE_RATES;
    static const uint32_t current_ua[] = RP_BATTERY_RECORDING_CURRENT_UA;
    unsigned i = 0;
    while (i + 1u < RP_SAMPLE_RATE_COUNT && rates[i] != sample_rate) i++;
    return current_ua[i] + (led_on ? RP_BATTERY_LED_CURRENT_UA : 0u);
}

uint32_t rec_battery_seconds_left(uint16_t mv, uint32_t sample_rate, bool led_on)
{
    if (mv == 0) return RP_TIME_LEFT_UNKNOWN;
    /* uAh left = mAh * 1000 * charge * usable; seconds = uAh * 3600 / uA */
    uint64_t uah = (uint64_t)REC_BATTERY_CAPACITY_MAH * 1000u * rec_battery_charge_permille(mv) / 1000u *
                   RP_BATTERY_USABLE_PERMILLE / 1000u;
    return (uint32_t)(uah * 3600u / rec_battery_recording_current_ua(sample_rate, led_on));
}
