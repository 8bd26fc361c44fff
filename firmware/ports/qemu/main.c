/* The QEMU port's main loop: the core's, plus the console (button, state lines, quit). */
#include "qemu_internal.h"
#include "rec/app.h"
#include "rec/err.h"
#include "rec/port.h"

int main(void)
{
    hw_init();
    console_line("boot ER-1 qemu");
    int rc = rec_app_init();
    if (rc != REC_OK) {
        console_write("log: rec_app_init: ");
        console_line(rec_err_name(rc));
    }
    console_line("ready");
    console_report_state(true);
    while (!console_quit_requested()) {
        rec_app_poll();
        console_report_state(false);
        port_sleep_until_event(rec_app_idle_ms());
    }
    /* `quit`: the microphone stops, the core may move what it already captured to the card for
     * at most a second, the card is released, and QEMU exits (semihosting). A recording still
     * open is closed by the recovery at the next boot, as after a power cut. */
    port_mic_stop();
    uint64_t deadline = port_uptime_ms() + 1000u;
    while (rec_app_idle_ms() == 0 && port_uptime_ms() < deadline) rec_app_poll();
    card_shutdown();
    console_write("stack used=");
    console_write_u32(stack_reserved_bytes() - stack_unused_bytes());
    console_write(" reserved=");
    console_write_u32(stack_reserved_bytes());
    console_write("\n");
    console_line("stopped");
    hw_exit(0);
}

const port_info_t *port_info(void)
{
    static const port_info_t info = {
        .model = "ER-1 qemu",
        .simulated = true,
        .audio_ring_bytes = REC_AUDIO_RING_BYTES,
    };
    return &info;
}
