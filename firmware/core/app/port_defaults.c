/* Weak defaults for the port functions that say "this hardware has none": a port without a
 * battery-backed clock, a unique id, NVM, an entropy source, a way to time a held button or to dim
 * its LED, or background (DMA) SPI transfers simply leaves them out (port.h). A port that has one
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

__attribute__((weak)) int port_nvm_info(port_nvm_info_t *out)
{
    (void)out;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_nvm_read(uint32_t offset, void *buf, uint32_t len)
{
    (void)offset, (void)buf, (void)len;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_nvm_erase_sector(uint32_t offset)
{
    (void)offset;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_nvm_program(uint32_t offset, const void *buf, uint32_t len)
{
    (void)offset, (void)buf, (void)len;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) int port_entropy(uint8_t *buf, uint32_t len, uint8_t *source)
{
    (void)buf, (void)len, (void)source;
    return REC_E_UNSUPPORTED;
}

__attribute__((weak)) bool port_button_take_hold(void)
{
    return false;
}

__attribute__((weak)) bool port_button_take_long_hold(void)
{
    return false;
}

__attribute__((weak)) void port_led_dim(bool on)
{
    (void)on;
}

__attribute__((weak)) bool port_spi_start(const uint8_t *tx, uint8_t *rx, size_t n)
{
    (void)tx;
    (void)rx;
    (void)n;
    return false;
}

__attribute__((weak)) int port_spi_finish(void)
{
    return REC_OK;
}
