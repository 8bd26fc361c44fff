/* The button's gestures, told apart by how long it is held (docs/firmware.md, "The button"):
 *
 *     press      released before REC_BUTTON_HOLD_MS (and held at least REC_BUTTON_BOUNCE_MS)
 *     hold       still down at REC_BUTTON_HOLD_MS: reported then, whatever follows
 *     long hold  still down at REC_BUTTON_STOP_MS: reported then (it always follows a hold)
 *
 * A gesture is reported as soon as it is reached, so the device answers while the button is
 * still down; a hold is never also a press. Ports with a real button feed the debounced edges to
 * rec_button_edge (from an interrupt if they like, under their own critical section) and call
 * rec_button_tick before taking, so a hold is seen while the button is still down; ports with
 * commands instead of a button (the simulator, QEMU) feed a press of a given length at once
 * (rec_button_press_for). Pure: no port calls, the time is passed in. */
#ifndef REC_BUTTON_H
#define REC_BUTTON_H

#include <stdbool.h>
#include <stdint.h>

/* Shorter closures are contact bounce, not presses. */
#define REC_BUTTON_BOUNCE_MS 20u
/* A press held this long is a hold: it asks whether the device records (port.h). */
#define REC_BUTTON_HOLD_MS 1000u
/* A press held this long is a long hold: it stops a recording. */
#define REC_BUTTON_STOP_MS 2000u

typedef enum {
    REC_GESTURE_PRESS = 0,
    REC_GESTURE_HOLD = 1,
    REC_GESTURE_LONG_HOLD = 2,
} rec_gesture_t;

/* What a gesture does (docs/firmware.md, "The button"), by the button scheme in the settings
 * (RP_BUTTON_SCHEME_*) and whether a recording is under way:
 *
 *                 standard            no-markers
 *     press       start | marker      start | nothing
 *     hold        ask   | ask         ask   | ask
 *     long hold   nothing | stop      nothing | stop
 *
 * (idle | recording). An unknown scheme acts as standard. */
typedef enum {
    REC_BUTTON_DO_NOTHING = 0,
    REC_BUTTON_DO_START = 1,
    REC_BUTTON_DO_MARK = 2,
    REC_BUTTON_DO_ASK = 3,
    REC_BUTTON_DO_STOP = 4,
} rec_button_action_t;

rec_button_action_t rec_button_action(uint8_t scheme, rec_gesture_t g, bool recording);

typedef struct {
    bool down;
    uint64_t down_ms;
    uint8_t reached;   /* 0, 1 (hold reported) or 2 (long hold reported) for the press under way */
    uint8_t pending[3]; /* gestures not yet taken, by rec_gesture_t (saturating) */
} rec_button_t;

void rec_button_init(rec_button_t *b);
/* A debounced change of the button at now_ms: down (pressed) or up (released). */
void rec_button_edge(rec_button_t *b, bool down, uint64_t now_ms);
/* Reports the holds reached by a button still down at now_ms. */
void rec_button_tick(rec_button_t *b, uint64_t now_ms);
/* True once for each pending gesture of this kind. */
bool rec_button_take(rec_button_t *b, rec_gesture_t g);
/* A whole press of held_ms starting at now_ms (down, then up held_ms later): what a command
 * standing for the button does. */
void rec_button_press_for(rec_button_t *b, uint32_t held_ms, uint64_t now_ms);

#endif
