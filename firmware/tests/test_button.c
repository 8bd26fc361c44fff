/* The button's gestures (core/app/button.c): a press, a hold and a long hold told apart by time;
 * bounce ignored; holds reported while the button is still down, and once each. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rec/button.h"
#include "rec_protocol.h"

typedef struct {
    unsigned press, hold, long_hold;
} taken_t;

static taken_t take_all(rec_button_t *b)
{
    taken_t t = { 0, 0, 0 };
    while (rec_button_take(b, REC_GESTURE_PRESS)) t.press++;
    while (rec_button_take(b, REC_GESTURE_HOLD)) t.hold++;
    while (rec_button_take(b, REC_GESTURE_LONG_HOLD)) t.long_hold++;
    return t;
}

static void expect(rec_button_t *b, unsigned press, unsigned hold, unsigned long_hold)
{
    taken_t t = take_all(b);
    assert_int_equal(t.press, press);
    assert_int_equal(t.hold, hold);
    assert_int_equal(t.long_hold, long_hold);
}

static void test_lengths(void **state)
{
    (void)state;
    rec_button_t b;
    rec_button_init(&b);
    /* By length alone (a command standing for a press of that length). */
    const struct {
        uint32_t ms;
        unsigned press, hold, long_hold;
    } cases[] = {
        { 0, 0, 0, 0 },      { REC_BUTTON_BOUNCE_MS - 1u, 0, 0, 0 }, /* bounce */
        { REC_BUTTON_BOUNCE_MS, 1, 0, 0 },  { 150, 1, 0, 0 },        /* a touch, a press */
        { REC_BUTTON_HOLD_MS - 1u, 1, 0, 0 },                      /* still a press */
        { REC_BUTTON_HOLD_MS, 0, 1, 0 },    { 1500, 0, 1, 0 },      /* a hold asks */
        { REC_BUTTON_STOP_MS - 1u, 0, 1, 0 },                      /* a long check does not stop */
        { REC_BUTTON_STOP_MS, 0, 1, 1 },    { 10000, 0, 1, 1 },     /* a long hold (once) */
    };
    uint64_t now = 1000;
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rec_button_press_for(&b, cases[i].ms, now);
        now += cases[i].ms + 500u;
        print_message("held %u ms\n", cases[i].ms);
        expect(&b, cases[i].press, cases[i].hold, cases[i].long_hold);
    }
}

static void test_holds_are_reported_while_down(void **state)
{
    (void)state;
    rec_button_t b;
    rec_button_init(&b);
    rec_button_edge(&b, true, 5000);
    rec_button_tick(&b, 5000 + REC_BUTTON_HOLD_MS - 1u);
    expect(&b, 0, 0, 0);
    rec_button_tick(&b, 5000 + REC_BUTTON_HOLD_MS);
    expect(&b, 0, 1, 0); /* the answer comes while the finger is still on the button */
    rec_button_tick(&b, 5000 + REC_BUTTON_HOLD_MS + 10u);
    expect(&b, 0, 0, 0); /* once */
    rec_button_tick(&b, 5000 + REC_BUTTON_STOP_MS);
    expect(&b, 0, 0, 1);
    rec_button_edge(&b, false, 5000 + 4000u);
    expect(&b, 0, 0, 0); /* the release adds nothing: never also a press */

    /* Nobody ticked in time (the loop was busy): the release reports what was reached. */
    rec_button_edge(&b, true, 20000);
    rec_button_edge(&b, false, 20000 + REC_BUTTON_STOP_MS + 1u);
    expect(&b, 0, 1, 1);

    /* Edges that repeat a state change nothing; a tick while up does nothing. */
    rec_button_edge(&b, false, 30000);
    rec_button_tick(&b, 90000);
    expect(&b, 0, 0, 0);
    rec_button_edge(&b, true, 31000);
    rec_button_edge(&b, true, 31100); /* a repeated down does not restart the clock */
    rec_button_edge(&b, false, 31000 + REC_BUTTON_HOLD_MS);
    expect(&b, 0, 1, 0);
}

static void test_queued_and_saturating(void **state)
{
    (void)state;
    rec_button_t b;
    rec_button_init(&b);
    /* Presses queue until taken (two quick presses are two markers). */
    rec_button_press_for(&b, 100, 0);
    rec_button_press_for(&b, 100, 300);
    expect(&b, 2, 0, 0);
    for (unsigned i = 0; i < 300; i++) rec_button_press_for(&b, 100, 1000u + 200u * i);
    expect(&b, 255, 0, 0);
}

/* What each gesture does, per scheme, idle and recording (the table in button.h). */
static void test_actions_per_scheme(void **state)
{
    (void)state;
    static const struct {
        uint8_t scheme;
        rec_gesture_t g;
        bool recording;
        rec_button_action_t want;
    } table[] = {
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_PRESS, false, REC_BUTTON_DO_START },
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_PRESS, true, REC_BUTTON_DO_MARK },
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_HOLD, false, REC_BUTTON_DO_ASK },
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_HOLD, true, REC_BUTTON_DO_ASK },
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_LONG_HOLD, false, REC_BUTTON_DO_NOTHING },
        { RP_BUTTON_SCHEME_STANDARD, REC_GESTURE_LONG_HOLD, true, REC_BUTTON_DO_STOP },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_PRESS, false, REC_BUTTON_DO_START },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_PRESS, true, REC_BUTTON_DO_NOTHING },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_HOLD, false, REC_BUTTON_DO_ASK },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_HOLD, true, REC_BUTTON_DO_ASK },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_LONG_HOLD, false, REC_BUTTON_DO_NOTHING },
        { RP_BUTTON_SCHEME_NO_MARKERS, REC_GESTURE_LONG_HOLD, true, REC_BUTTON_DO_STOP },
        /* a scheme this firmware does not know acts as standard */
        { 7, REC_GESTURE_PRESS, true, REC_BUTTON_DO_MARK },
        { 7, REC_GESTURE_LONG_HOLD, true, REC_BUTTON_DO_STOP },
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (rec_button_action(table[i].scheme, table[i].g, table[i].recording) != table[i].want)
            fail_msg("row %zu: scheme %u gesture %d recording %d", i, table[i].scheme, (int)table[i].g, (int)table[i].recording);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_holds_are_reported_while_down),
        cmocka_unit_test(test_queued_and_saturating),
        cmocka_unit_test(test_actions_per_scheme),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
