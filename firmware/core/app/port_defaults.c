/* Weak defaults for the port functions that say "this hardware has none": a port without a
 * battery-backed clock or a unique id simply leaves them out (port.h). A port that has one
 * defines the function, and its definition wins at link time. */
#include "rec/err.h"
#include "rec/port.h"

__attribute__((weak)) int port_rtc_read(int64_t *unix_ms)
{
    (void)unix_ms;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_rtc_write(int64_t unix_ms)
{
    (void)unix_ms;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_unique_id(uint64_t *id)
{
    (void)id;
    return REC_E_UNSUPPORTED;
}
