/* The firmware application: what a port's main() runs.
 *
 *     rec_app_init();
 *     for (;;) { rec_app_poll(); port_sleep_until_event(rec_app_idle_ms()); }
 *
 * rec_app_init mounts the card, recovers a recording left open by a power cut, loads settings.
 * rec_app_poll does one bounded step of work: moves captured audio from the ring buffer to the
 * card, serves the protocol, handles the button, drives the LED. It never blocks for long, so
 * audio keeps flowing while the host is connected. */
#ifndef REC_APP_H
#define REC_APP_H

#include <stdbool.h>
#include <stdint.h>


/* Battery thresholds: stop and finalise below STOP, start again only above START. */
#define REC_BATTERY_STOP_MV 3300u
#define REC_BATTERY_START_MV 3450u

int rec_app_init(void);
void rec_app_poll(void);
/* How long the port may sleep before the next poll (0 when there is work waiting). */
uint32_t rec_app_idle_ms(void);
/* Ports call this when the card is removed or inserted (card-detect interrupt or simulator). */
void rec_app_card_changed(void);

/* What a port shows of the device: recorder and card state (RP_REC_STATE_*, RP_CARD_STATE_*)
 * and the battery. */
typedef struct {
    uint8_t rec_state;
    uint8_t card_state;
    bool low_battery;
} rec_app_status_t;
/* True when the status differs from *last, or when forced; *last is then updated. Ports print
 * a state line when it says so. */
bool rec_app_status_changed(rec_app_status_t *last, bool force);
/* The device id (settings), e.g. for a USB serial number; valid after rec_app_init. */
uint64_t rec_app_device_id(void);

/* The single device instance the application runs, for tests and harnesses (its fields are in
 * device.h; ports use the functions above). */
typedef struct rec_device rec_device_t;
rec_device_t *rec_device(void);

#endif
