/* The button's gestures from its edges and the time (button.h). */
#include "rec/button.h"

#include <string.h>

#include "rec_protocol.h"

rec_button_action_t rec_button_action(uint8_t scheme, rec_gesture_t g, bool recording)
{
    switch (g) {
    case REC_GESTURE_PRESS:
        if (!recording) return REC_BUTTON_DO_START;
        /* For someone who fidgets with the device: a touch while recording leaves no trace. */
        return scheme == RP_BUTTON_SCHEME_NO_MARKERS ? REC_BUTTON_DO_NOTHING : REC_BUTTON_DO_MARK;
    case REC_GESTURE_HOLD:
        return REC_BUTTON_DO_ASK;
    case REC_GESTURE_LONG_HOLD:
        return recording ? REC_BUTTON_DO_STOP : REC_BUTTON_DO_NOTHING;
    }
    return REC_BUTTON_DO_NOTHING;
}

void rec_button_init(rec_button_t *b)
{
    memset(b, 0, sizeof *b);
}

static void add(rec_button_t *b, rec_gesture_t g)
{
    if (b->pending[g] < UINT8_MAX) b->pending[g]++;
}

void rec_button_tick(rec_button_t *b, uint64_t now_ms)
{
    if (!b->down) return;
    const uint64_t held = now_ms - b->down_ms;
    if (b->reached < 1u && held >= REC_BUTTON_HOLD_MS) {
        b->reached = 1u;
        add(b, REC_GESTURE_HOLD);
    }
    if (b->reached < 2u && held >= REC_BUTTON_STOP_MS) {
        b->reached = 2u;
        add(b, REC_GESTURE_LONG_HOLD);
    }
}

void rec_button_edge(rec_button_t *b, bool down, uint64_t now_ms)
{
    if (down == b->down) return;
    if (down) {
        b->down = true;
        b->down_ms = now_ms;
        b->reached = 0;
        return;
    }
    /* Released: the holds it reached (if nobody ticked in time), or a press. */
    rec_button_tick(b, now_ms);
    const uint64_t held = now_ms - b->down_ms;
    b->down = false;
    if (b->reached == 0u && held >= REC_BUTTON_BOUNCE_MS) add(b, REC_GESTURE_PRESS);
}

bool rec_button_take(rec_button_t *b, rec_gesture_t g)
{
    if (b->pending[g] == 0u) return false;
    b->pending[g]--;
    return true;
}

void rec_button_press_for(rec_button_t *b, uint32_t held_ms, uint64_t now_ms)
{
    rec_button_edge(b, true, now_ms);
    rec_button_edge(b, false, now_ms + held_ms);
}
