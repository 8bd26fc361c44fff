/* See usb_cdc_proto.h. */
#include "usb_cdc_proto.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

void usb_setup_parse(const uint8_t raw[8], usb_setup_t *out)
{
    out->bmRequestType = raw[0];
    out->bRequest = raw[1];
    out->wValue = (uint16_t)(raw[2] | raw[3] << 8);
    out->wIndex = (uint16_t)(raw[4] | raw[5] << 8);
    out->wLength = (uint16_t)(raw[6] | raw[7] << 8);
}

void usb_cdc_init(usb_cdc_t *u, uint16_t vid, uint16_t pid, uint64_t serial_id)
{
    memset(u, 0, sizeof *u);
    u->vid = vid;
    u->pid = pid;
    static const char hex[] = "0123456789ABCDEF";
    for (int i = 0; i < 16; i++) u->serial[i] = hex[(serial_id >> (60 - 4 * i)) & 0xfu];
    u->serial[16] = '\0';
    usb_cdc_bus_reset(u);
}

void usb_cdc_bus_reset(usb_cdc_t *u)
{
    u->configuration = 0;
    u->address = 0;
    u->address_pending = false;
    u->line_state = 0;
    u->halted = 0;
    u->toggle_reset = USB_HALT_NOTIFY | USB_HALT_OUT | USB_HALT_IN;
    /* 115200 8N1: meaningless on USB, but GET_LINE_CODING must answer something sensible. */
    static const uint8_t coding[7] = { 0x00, 0xc2, 0x01, 0x00, 0, 0, 8 };
    memcpy(u->line_coding, coding, sizeof coding);
}

bool usb_cdc_connected(const usb_cdc_t *u)
{
    return u->configuration != 0 && (u->line_state & 1u) != 0;
}

size_t usb_cdc_device_descriptor(const usb_cdc_t *u, uint8_t out[USB_DEVICE_DESC_LEN])
{
    const uint8_t d[USB_DEVICE_DESC_LEN] = {
        USB_DEVICE_DESC_LEN, USB_DESC_DEVICE,
        0x00, 0x02,             /* bcdUSB 2.00 */
        0xef, 0x02, 0x01,       /* miscellaneous / common class / interface association */
        USB_EP0_SIZE,
        (uint8_t)u->vid, (uint8_t)(u->vid >> 8),
        (uint8_t)u->pid, (uint8_t)(u->pid >> 8),
        0x00, 0x01,             /* bcdDevice 1.00 */
        1, 2, 3,                /* manufacturer, product, serial number strings */
        1,                      /* one configuration */
    };
    memcpy(out, d, sizeof d);
    return sizeof d;
}

static const uint8_t config_desc[USB_CDC_CONFIG_LEN] = {
    /* configuration */
    9, USB_DESC_CONFIGURATION, USB_CDC_CONFIG_LEN, 0, 2, 1, 0, 0x80, 50, /* bus powered, 100 mA */
    /* interface association: interfaces 0-1 are one CDC ACM function */
    8, 0x0b, 0, 2, 0x02, 0x02, 0x00, 0,
    /* interface 0: communication, ACM, one endpoint */
    9, 0x04, 0, 0, 1, 0x02, 0x02, 0x00, 0,
    5, 0x24, 0x00, 0x20, 0x01,          /* header functional descriptor, CDC 1.20 */
    5, 0x24, 0x01, 0x00, 1,             /* call management: none, data interface 1 */
    4, 0x24, 0x02, 0x02,                /* ACM: line coding and control line state */
    5, 0x24, 0x06, 0, 1,                /* union: master 0, slave 1 */
    7, 0x05, USB_CDC_EP_NOTIFY, 0x03, USB_CDC_NOTIFY_SIZE, 0, 16, /* interrupt IN, 16 ms */
    /* interface 1: data, two bulk endpoints */
    9, 0x04, 1, 0, 2, 0x0a, 0x00, 0x00, 0,
    7, 0x05, USB_CDC_EP_OUT, 0x02, USB_CDC_BULK_SIZE, 0, 0,
    7, 0x05, USB_CDC_EP_IN, 0x02, USB_CDC_BULK_SIZE, 0, 0,
};

size_t usb_cdc_config_descriptor(uint8_t out[USB_CDC_CONFIG_LEN])
{
    memcpy(out, config_desc, sizeof config_desc);
    return sizeof config_desc;
}

static size_t ascii_string(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s);
    if (2 + 2 * n > cap) n = (cap - 2) / 2;
    if (2 + 2 * n > 255) n = 126;
    out[0] = (uint8_t)(2 + 2 * n);
    out[1] = USB_DESC_STRING;
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = (uint8_t)s[i];
        out[3 + 2 * i] = 0;
    }
    return 2 + 2 * n;
}

size_t usb_cdc_string_descriptor(const usb_cdc_t *u, uint8_t index, uint8_t *out, size_t cap)
{
    if (cap < 4) return 0;
    switch (index) {
    case 0:
        out[0] = 4;
        out[1] = USB_DESC_STRING;
        put16(out + 2, 0x0409); /* English (United States) */
        return 4;
    case 1: return ascii_string(USB_CDC_MANUFACTURER, out, cap);
    case 2: return ascii_string(USB_CDC_PRODUCT, out, cap);
    case 3: return ascii_string(u->serial, out, cap);
    default: return 0;
    }
}

static usb_reply_t stall(void)
{
    usb_reply_t r = { USB_REPLY_STALL, NULL, 0 };
    return r;
}

static usb_reply_t ack(void)
{
    usb_reply_t r = { USB_REPLY_ACK, NULL, 0 };
    return r;
}

static usb_reply_t in(const usb_setup_t *s, const uint8_t *data, size_t len)
{
    usb_reply_t r = { USB_REPLY_IN, data, (uint16_t)(len < s->wLength ? len : s->wLength) };
    return r;
}

/* Endpoint address -> halt bit, 0 for EP0 or an endpoint this device does not have. */
static uint8_t ep_bit(uint16_t ep)
{
    switch (ep & 0xffu) {
    case USB_CDC_EP_NOTIFY: return USB_HALT_NOTIFY;
    case USB_CDC_EP_OUT: return USB_HALT_OUT;
    case USB_CDC_EP_IN: return USB_HALT_IN;
    default: return 0;
    }
}

static bool ep_valid(const usb_cdc_t *u, uint16_t ep)
{
    if ((ep & 0x7fu) == 0) return (ep & ~0x80u) == 0;
    return u->configuration != 0 && ep_bit(ep) != 0;
}

static usb_reply_t standard(usb_cdc_t *u, const usb_setup_t *s)
{
    const bool dir_in = (s->bmRequestType & 0x80u) != 0;
    const uint8_t recip = s->bmRequestType & 0x1fu;
    switch (s->bRequest) {
    case USB_REQ_GET_STATUS:
        if (!dir_in || s->wValue != 0 || s->wLength != 2) return stall();
        u->scratch[0] = 0;
        u->scratch[1] = 0;
        if (recip == USB_RECIP_DEVICE) {
            if (s->wIndex != 0) return stall();
        } else if (recip == USB_RECIP_INTERFACE) {
            if (u->configuration == 0 || s->wIndex > 1) return stall();
        } else if (recip == USB_RECIP_ENDPOINT) {
            if (!ep_valid(u, s->wIndex)) return stall();
            u->scratch[0] = (u->halted & ep_bit(s->wIndex)) ? 1 : 0;
        } else {
            return stall();
        }
        return in(s, u->scratch, 2);
    case USB_REQ_CLEAR_FEATURE:
    case USB_REQ_SET_FEATURE: {
        if (dir_in || s->wLength != 0) return stall();
        /* Only ENDPOINT_HALT (0) on an endpoint: no remote wakeup, no test modes. */
        if (recip != USB_RECIP_ENDPOINT || s->wValue != 0 || !ep_valid(u, s->wIndex)) return stall();
        uint8_t bit = ep_bit(s->wIndex);
        if (bit == 0) return ack(); /* EP0: halt clears itself at the next SETUP */
        if (s->bRequest == USB_REQ_SET_FEATURE) {
            u->halted |= bit;
        } else {
            u->halted &= (uint8_t)~bit;
            u->toggle_reset |= bit; /* ClearFeature(ENDPOINT_HALT) resets the toggle to DATA0 */
        }
        return ack();
    }
    case USB_REQ_SET_ADDRESS:
        if (dir_in || recip != USB_RECIP_DEVICE || s->wValue > 127 || s->wIndex != 0 || s->wLength != 0 || u->configuration != 0)
            return stall();
        u->address = (uint8_t)s->wValue;
        u->address_pending = true;
        return ack();
    case USB_REQ_GET_DESCRIPTOR: {
        if (!dir_in || recip != USB_RECIP_DEVICE) return stall();
        uint8_t type = (uint8_t)(s->wValue >> 8), index = (uint8_t)s->wValue;
        size_t n = 0;
        if (type == USB_DESC_DEVICE && index == 0) {
            n = usb_cdc_device_descriptor(u, u->scratch);
        } else if (type == USB_DESC_CONFIGURATION && index == 0) {
            n = usb_cdc_config_descriptor(u->scratch);
        } else if (type == USB_DESC_STRING) {
            n = usb_cdc_string_descriptor(u, index, u->scratch, sizeof u->scratch);
        }
        /* DEVICE_QUALIFIER and OTHER_SPEED: a full-speed-only device answers with a stall. */
        if (n == 0) return stall();
        return in(s, u->scratch, n);
    }
    case USB_REQ_GET_CONFIGURATION:
        if (!dir_in || recip != USB_RECIP_DEVICE || s->wValue != 0 || s->wIndex != 0 || s->wLength != 1) return stall();
        u->scratch[0] = u->configuration;
        return in(s, u->scratch, 1);
    case USB_REQ_SET_CONFIGURATION:
        if (dir_in || recip != USB_RECIP_DEVICE || s->wIndex != 0 || s->wLength != 0) return stall();
        if (s->wValue > 1) return stall(); /* only configuration 1 exists */
        u->configuration = (uint8_t)s->wValue;
        u->halted = 0;
        u->toggle_reset = USB_HALT_NOTIFY | USB_HALT_OUT | USB_HALT_IN;
        if (u->configuration == 0) u->line_state = 0;
        return ack();
    case USB_REQ_GET_INTERFACE:
        if (!dir_in || recip != USB_RECIP_INTERFACE || u->configuration == 0 || s->wIndex > 1 || s->wValue != 0 || s->wLength != 1)
            return stall();
        u->scratch[0] = 0;
        return in(s, u->scratch, 1);
    case USB_REQ_SET_INTERFACE:
        if (dir_in || recip != USB_RECIP_INTERFACE || u->configuration == 0 || s->wIndex > 1 || s->wValue != 0 || s->wLength != 0)
            return stall();
        u->toggle_reset |= s->wIndex == 0 ? USB_HALT_NOTIFY : (USB_HALT_OUT | USB_HALT_IN);
        return ack();
    default:
        return stall(); /* SET_DESCRIPTOR, SYNCH_FRAME, unknown */
    }
}

static usb_reply_t class_request(usb_cdc_t *u, const usb_setup_t *s)
{
    const bool dir_in = (s->bmRequestType & 0x80u) != 0;
    const uint8_t recip = s->bmRequestType & 0x1fu;
    if ((recip != USB_RECIP_INTERFACE && recip != USB_RECIP_DEVICE) || (s->wIndex & 0xffu) != 0) return stall();
    switch (s->bRequest) {
    case CDC_REQ_SET_LINE_CODING:
        if (dir_in || s->wLength != 7) return stall();
        {
            usb_reply_t r = { USB_REPLY_OUT, NULL, 7 };
            return r;
        }
    case CDC_REQ_GET_LINE_CODING:
        if (!dir_in || s->wLength == 0) return stall();
        return in(s, u->line_coding, sizeof u->line_coding);
    case CDC_REQ_SET_CONTROL_LINE_STATE:
        if (dir_in || s->wLength != 0) return stall();
        u->line_state = s->wValue & 3u;
        return ack();
    case CDC_REQ_SEND_BREAK:
        if (dir_in || s->wLength != 0) return stall();
        return ack();
    default:
        return stall();
    }
}

usb_reply_t usb_cdc_setup(usb_cdc_t *u, const usb_setup_t *s)
{
    switch ((s->bmRequestType >> 5) & 3u) {
    case USB_TYPE_STANDARD: return standard(u, s);
    case USB_TYPE_CLASS: return class_request(u, s);
    default: return stall(); /* vendor, reserved */
    }
}

bool usb_cdc_control_out(usb_cdc_t *u, const usb_setup_t *s, const uint8_t *data, uint16_t len)
{
    if (((s->bmRequestType >> 5) & 3u) == USB_TYPE_CLASS && s->bRequest == CDC_REQ_SET_LINE_CODING && len == 7) {
        if (data[6] != 5 && data[6] != 6 && data[6] != 7 && data[6] != 8 && data[6] != 16) return false;
        memcpy(u->line_coding, data, 7);
        return true;
    }
    return false;
}
