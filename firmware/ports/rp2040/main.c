/* The recorder on the Feather RP2040 Adalogger: bring-up, the core's application loop, USB. */
#include "rec/app.h"
#include "rec/port.h"
#include "regs.h"
#include "rp2040.h"

void rp2040_port_init(void);
void rp2040_settings_after_format(void);

#define WATCHDOG_MS 8000u

int main(void)
{
    rp2040_hw_init();
    if (REG32(WATCHDOG_SCRATCH(0)) == RP2040_SCRATCH_MAGIC) {
        port_log("reset after a fatal error");
        REG32(WATCHDOG_SCRATCH(0)) = 0;
    }
    port_log("boot");
    rp2040_port_init();
    rp2040_watchdog_start(WATCHDOG_MS);
    (void)rec_app_init();
    rp2040_usb_init(rec_app_device_id());
    port_log("ready");
    for (;;) {
        rp2040_watchdog_feed();
        rec_app_poll();
        rp2040_settings_after_format();
        port_sleep_until_event(rec_app_idle_ms());
    }
}
