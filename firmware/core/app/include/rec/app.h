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

#include <stdint.h>

int rec_app_init(void);
void rec_app_poll(void);
/* How long the port may sleep before the next poll (0 when there is work waiting). */
uint32_t rec_app_idle_ms(void);
/* Ports call this when the card is removed or inserted (card-detect interrupt or simulator). */
void rec_app_card_changed(void);

#endif
