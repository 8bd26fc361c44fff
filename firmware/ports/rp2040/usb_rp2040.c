/* USB CDC-ACM device on the RP2040 USB controller (datasheet 4.1), without TinyUSB.
 *
 * Packets only: what the requests mean is in usb/usb_cdc_proto.c. Endpoints are single
 * buffered: EP0 (64), EP1 IN interrupt (notifications, never sent), EP2 OUT and EP2 IN bulk (64).
 * Received bytes go to a ring the main loop reads (port_serial_read); the OUT endpoint is armed
 * again only when the ring has room for a full packet, so the host is NAKed instead of data
 * being dropped. Bytes to send go to a second ring, drained one packet at a time by the IN
 * endpoint; a zero-length packet ends a transfer that filled its last packet. */
#include <string.h>

#include "rec_protocol.h" /* RP_USB_VENDOR_ID, RP_USB_PRODUCT_ID: PROTOCOL in protocol/src/schema.ts */
#include "regs.h"
#include "rp2040.h"
#include "usb/usb_cdc_proto.h"

#define RX_RING 1024u  /* powers of two */
#define TX_RING 2048u
#define BUF_NOTIFY 0x180u /* DPRAM offsets of the endpoint buffers, 64-byte aligned */
#define BUF_OUT 0x1c0u
#define BUF_IN 0x200u


typedef enum { EP0_IDLE, EP0_IN_DATA, EP0_IN_STATUS, EP0_OUT_DATA, EP0_OUT_STATUS } ep0_state_t;

static usb_cdc_t g_cdc;
static usb_setup_t g_setup;
static ep0_state_t g_ep0;
static const uint8_t *g_ep0_ptr;
static uint16_t g_ep0_left;
static bool g_ep0_zlp;
static uint8_t g_ep0_pid;
static uint8_t g_ep0_rx[16];
static uint16_t g_ep0_rx_len, g_ep0_rx_want;

static uint8_t g_rx[RX_RING], g_tx[TX_RING];
static volatile uint32_t g_rx_head, g_rx_tail, g_tx_head, g_tx_tail; /* head: written, tail: read */
static bool g_out_armed, g_in_busy, g_in_zlp;
static uint8_t g_pid_out, g_pid_in;

static void dpram_write(uint32_t off, const uint8_t *src, uint32_t n)
{
    /* Word writes: the DPRAM is 32 bits wide. Whole words first, without the per-byte bound (the
     * IN path's cost per byte served, issue 17). */
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4)
        REG32(USBCTRL_DPRAM_BASE + off + i) = (uint32_t)src[i] | (uint32_t)src[i + 1] << 8 | (uint32_t)src[i + 2] << 16 | (uint32_t)src[i + 3] << 24;
    for (; i < n; i += 4) {
        uint32_t w = 0;
        for (uint32_t k = 0; k < 4 && i + k < n; k++) w |= (uint32_t)src[i + k] << (8 * k);
        REG32(USBCTRL_DPRAM_BASE + off + i) = w;
    }
}

static void dpram_read(uint32_t off, uint8_t *dst, uint32_t n)
{
    for (uint32_t i = 0; i < n; i += 4) {
        uint32_t w = REG32(USBCTRL_DPRAM_BASE + off + i);
        for (uint32_t k = 0; k < 4 && i + k < n; k++) dst[i + k] = (uint8_t)(w >> (8 * k));
    }
}

/* Hands a buffer to the controller: every other bit first, AVAILABLE last [4.1.2.5.1]. */
static void buf_ctrl(uint32_t reg, uint32_t val)
{
    REG32(reg) = val;
    __asm volatile("nop\n nop\n nop");
    REG32(reg) = val | USB_BUF_CTRL_AVAIL;
}

static void ep0_in_packet(const uint8_t *p, uint16_t n)
{
    if (n) dpram_write(0x100u, p, n);
    buf_ctrl(USB_DPRAM_BUF_CTRL_IN(0), n | USB_BUF_CTRL_FULL | (g_ep0_pid ? USB_BUF_CTRL_DATA1 : 0));
    g_ep0_pid ^= 1u;
}

static void ep0_send_next(void)
{
    uint16_t n = g_ep0_left > USB_EP0_SIZE ? USB_EP0_SIZE : g_ep0_left;
    ep0_in_packet(g_ep0_ptr, n);
    g_ep0_ptr += n;
    g_ep0_left -= n;
}

static void ep0_stall(void)
{
    REG32(USB_EP_STALL_ARM) = 3u; /* EP0 IN and OUT */
    REG32(USB_DPRAM_BUF_CTRL_IN(0)) = USB_BUF_CTRL_STALL;
    REG32(USB_DPRAM_BUF_CTRL_OUT(0)) = USB_BUF_CTRL_STALL;
    g_ep0 = EP0_IDLE;
}

static void ep0_status_in(void)
{
    g_ep0_pid = 1u;
    ep0_in_packet(NULL, 0);
    g_ep0 = EP0_IN_STATUS;
}

static void out_arm(void)
{
    if (g_cdc.configuration == 0 || g_out_armed || (g_cdc.halted & USB_HALT_OUT)) return;
    if (RX_RING - (g_rx_head - g_rx_tail) < USB_CDC_BULK_SIZE) return; /* NAK until there is room */
    g_out_armed = true;
    buf_ctrl(USB_DPRAM_BUF_CTRL_OUT(2), USB_CDC_BULK_SIZE | (g_pid_out ? USB_BUF_CTRL_DATA1 : 0));
}

static void in_kick(void)
{
    if (g_cdc.configuration == 0 || g_in_busy || (g_cdc.halted & USB_HALT_IN)) return;
    uint32_t avail = g_tx_head - g_tx_tail;
    if (avail == 0 && !g_in_zlp) return;
    uint32_t n = avail > USB_CDC_BULK_SIZE ? USB_CDC_BULK_SIZE : avail;
    const uint32_t at = g_tx_tail & (TX_RING - 1u);
    if (at + n <= TX_RING) {
        dpram_write(BUF_IN, g_tx + at, n); /* straight from the ring (no wrap): the usual case */
    } else {
        uint8_t pkt[USB_CDC_BULK_SIZE];
        for (uint32_t i = 0; i < n; i++) pkt[i] = g_tx[(at + i) & (TX_RING - 1u)];
        dpram_write(BUF_IN, pkt, n);
    }
    g_tx_tail += n;
    g_in_zlp = n == USB_CDC_BULK_SIZE;
    g_in_busy = true;
    buf_ctrl(USB_DPRAM_BUF_CTRL_IN(2), n | USB_BUF_CTRL_FULL | (g_pid_in ? USB_BUF_CTRL_DATA1 : 0));
    g_pid_in ^= 1u;
}

static void apply_endpoint_state(void)
{
    uint8_t reset = g_cdc.toggle_reset;
    g_cdc.toggle_reset = 0;
    if (reset & USB_HALT_OUT) g_pid_out = 0;
    if (reset & USB_HALT_IN) g_pid_in = 0;
    if (g_cdc.halted & USB_HALT_IN) {
        REG32(USB_DPRAM_BUF_CTRL_IN(2)) = USB_BUF_CTRL_STALL;
        g_in_busy = false;
    }
    if (g_cdc.halted & USB_HALT_OUT) {
        REG32(USB_DPRAM_BUF_CTRL_OUT(2)) = USB_BUF_CTRL_STALL;
        g_out_armed = false;
    }
    if (g_cdc.halted & USB_HALT_NOTIFY) REG32(USB_DPRAM_BUF_CTRL_IN(1)) = USB_BUF_CTRL_STALL;
    if (g_cdc.configuration == 0) {
        g_out_armed = false;
        g_in_busy = false;
    }
    out_arm();
    in_kick();
}

static void handle_setup(void)
{
    uint8_t raw[8];
    dpram_read(0, raw, 8);
    usb_setup_parse(raw, &g_setup);
    REG32(USB_EP_STALL_ARM) = 0;
    g_ep0_pid = 1u; /* the first packet after SETUP is DATA1 */
    usb_reply_t r = usb_cdc_setup(&g_cdc, &g_setup);
    switch (r.kind) {
    case USB_REPLY_STALL:
        ep0_stall();
        break;
    case USB_REPLY_ACK:
        ep0_status_in();
        break;
    case USB_REPLY_IN:
        g_ep0 = EP0_IN_DATA;
        g_ep0_ptr = r.data;
        g_ep0_left = r.len;
        /* A reply shorter than asked that ends on a full packet needs a zero-length packet. */
        g_ep0_zlp = r.len < g_setup.wLength && r.len % USB_EP0_SIZE == 0;
        ep0_send_next();
        if (r.len == 0) g_ep0_zlp = false;
        break;
    case USB_REPLY_OUT:
        if (r.len > sizeof g_ep0_rx) {
            ep0_stall();
            break;
        }
        g_ep0 = EP0_OUT_DATA;
        g_ep0_rx_len = 0;
        g_ep0_rx_want = r.len;
        buf_ctrl(USB_DPRAM_BUF_CTRL_OUT(0), USB_EP0_SIZE | USB_BUF_CTRL_DATA1);
        g_ep0_pid = 0; /* the next OUT data packet, if any, is DATA0 */
        break;
        break;
    }
    apply_endpoint_state();
}

static void ep0_in_done(void)
{
    if (g_ep0 == EP0_IN_DATA) {
        if (g_ep0_left > 0) {
            ep0_send_next();
        } else if (g_ep0_zlp) {
            g_ep0_zlp = false;
            ep0_in_packet(NULL, 0);
        } else {
            /* data stage done: the host's zero-length OUT is the status stage */
            g_ep0 = EP0_OUT_STATUS;
            buf_ctrl(USB_DPRAM_BUF_CTRL_OUT(0), USB_BUF_CTRL_DATA1);
        }
    } else if (g_ep0 == EP0_IN_STATUS) {
        if (g_cdc.address_pending) {
            /* SET_ADDRESS takes effect only once its status stage is complete [9.4.6]. */
            REG32(USB_ADDR_ENDP) = g_cdc.address;
            g_cdc.address_pending = false;
        }
        g_ep0 = EP0_IDLE;
    }
}

static void ep0_out_done(void)
{
    uint32_t bc = REG32(USB_DPRAM_BUF_CTRL_OUT(0));
    uint16_t n = (uint16_t)(bc & USB_BUF_CTRL_LEN_MASK);
    if (g_ep0 == EP0_OUT_DATA) {
        uint16_t room = (uint16_t)(g_ep0_rx_want - g_ep0_rx_len);
        uint16_t take = n < room ? n : room;
        dpram_read(0x100u, g_ep0_rx + g_ep0_rx_len, take);
        g_ep0_rx_len += take;
        if (g_ep0_rx_len >= g_ep0_rx_want || n < USB_EP0_SIZE) {
            if (usb_cdc_control_out(&g_cdc, &g_setup, g_ep0_rx, g_ep0_rx_len))
                ep0_status_in();
            else
                ep0_stall();
        } else {
            buf_ctrl(USB_DPRAM_BUF_CTRL_OUT(0), USB_EP0_SIZE | (g_ep0_pid ? USB_BUF_CTRL_DATA1 : 0));
            g_ep0_pid ^= 1u;
        }
    } else {
        g_ep0 = EP0_IDLE;
    }
}

static void bulk_out_done(void)
{
    uint32_t bc = REG32(USB_DPRAM_BUF_CTRL_OUT(2));
    uint32_t n = bc & USB_BUF_CTRL_LEN_MASK;
    if (n > USB_CDC_BULK_SIZE) n = USB_CDC_BULK_SIZE;
    uint8_t pkt[USB_CDC_BULK_SIZE];
    dpram_read(BUF_OUT, pkt, n);
    for (uint32_t i = 0; i < n; i++) g_rx[(g_rx_head + i) & (RX_RING - 1u)] = pkt[i];
    g_rx_head += n;
    g_pid_out ^= 1u;
    g_out_armed = false;
    out_arm();
}

static void bus_reset(void)
{
    REG32(USB_SIE_STATUS) = USB_SIE_STATUS_BUS_RESET;
    REG32(USB_ADDR_ENDP) = 0;
    usb_cdc_bus_reset(&g_cdc);
    g_ep0 = EP0_IDLE;
    g_out_armed = false;
    g_in_busy = false;
    g_in_zlp = false;
    g_pid_in = g_pid_out = 0;
    g_cdc.toggle_reset = 0;
}

void rp2040_isr_usbctrl(void)
{
    uint32_t ints = REG32(USB_INTS);
    if (ints & USB_INT_SETUP_REQ) {
        REG32(USB_SIE_STATUS) = USB_SIE_STATUS_SETUP_REC;
        handle_setup();
    }
    if (ints & USB_INT_BUFF_STATUS) {
        uint32_t b = REG32(USB_BUFF_STATUS);
        REG32(USB_BUFF_STATUS) = b; /* write-one-to-clear */
        if (b & (1u << 0)) ep0_in_done();
        if (b & (1u << 1)) ep0_out_done();
        if (b & (1u << 4)) {
            g_in_busy = false;
            in_kick();
        }
        if (b & (1u << 5)) bulk_out_done();
    }
    if (ints & USB_INT_BUS_RESET) bus_reset();
    rp2040_event = true;
}

void rp2040_usb_init(uint64_t serial_id)
{
    usb_cdc_init(&g_cdc, RP_USB_VENDOR_ID, RP_USB_PRODUCT_ID, serial_id);
    REG_SET(RESETS_RESET) = RESET_USBCTRL;
    REG_CLR(RESETS_RESET) = RESET_USBCTRL;
    while (!(REG32(RESETS_RESET_DONE) & RESET_USBCTRL)) {
    }
    for (uint32_t off = 0; off < 4096u; off += 4) REG32(USBCTRL_DPRAM_BASE + off) = 0;
    /* Endpoint control: enable, interrupt per buffer, type, buffer offset. */
    REG32(USB_DPRAM_EP_CTRL_IN(1)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_INT_PER_BUFFER | (3u << USB_EP_CTRL_TYPE_LSB) | BUF_NOTIFY;
    REG32(USB_DPRAM_EP_CTRL_OUT(2)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_INT_PER_BUFFER | (2u << USB_EP_CTRL_TYPE_LSB) | BUF_OUT;
    REG32(USB_DPRAM_EP_CTRL_IN(2)) = USB_EP_CTRL_ENABLE | USB_EP_CTRL_INT_PER_BUFFER | (2u << USB_EP_CTRL_TYPE_LSB) | BUF_IN;
    REG32(USB_USB_MUXING) = USB_MUXING_TO_PHY | USB_MUXING_SOFTCON;
    /* No VBUS sense pin is wired to the controller: force "VBUS present". */
    REG32(USB_USB_PWR) = USB_PWR_VBUS_DETECT | USB_PWR_VBUS_DETECT_OVERRIDE_EN;
    REG32(USB_MAIN_CTRL) = USB_MAIN_CTRL_CONTROLLER_EN;
    REG32(USB_SIE_CTRL) = USB_SIE_CTRL_EP0_INT_1BUF;
    REG32(USB_INTE) = USB_INT_SETUP_REQ | USB_INT_BUS_RESET | USB_INT_BUFF_STATUS;
    rp2040_nvic_enable(IRQ_USBCTRL);
    REG_SET(USB_SIE_CTRL) = USB_SIE_CTRL_PULLUP_EN; /* present to the host */
}

bool rp2040_usb_connected(void)
{
    return usb_cdc_connected(&g_cdc);
}

size_t rp2040_usb_read(uint8_t *buf, size_t max)
{
    uint32_t s = rp2040_irq_disable();
    uint32_t avail = g_rx_head - g_rx_tail;
    size_t n = avail < max ? avail : max;
    for (size_t i = 0; i < n; i++) buf[i] = g_rx[(g_rx_tail + i) & (RX_RING - 1u)];
    g_rx_tail += (uint32_t)n;
    out_arm();
    rp2040_irq_restore(s);
    return n;
}

size_t rp2040_usb_write(const uint8_t *buf, size_t len)
{
    if (!usb_cdc_connected(&g_cdc)) return len; /* nobody listening: the bytes are dropped */
    uint32_t s = rp2040_irq_disable();
    uint32_t room = TX_RING - (g_tx_head - g_tx_tail);
    size_t n = len < room ? len : room;
    /* At most two spans of the ring (memcpy rather than a masked index per byte: issue 17). */
    const uint32_t at = g_tx_head & (TX_RING - 1u);
    const size_t first = n < TX_RING - at ? n : TX_RING - at;
    memcpy(g_tx + at, buf, first);
    memcpy(g_tx, buf + first, n - first);
    g_tx_head += (uint32_t)n;
    in_kick();
    rp2040_irq_restore(s);
    return n;
}
