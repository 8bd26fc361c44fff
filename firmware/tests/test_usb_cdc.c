/* The RP2040 port's USB CDC-ACM logic (ports/rp2040/usb/usb_cdc_proto.c) without hardware:
 * descriptors checked field by field against USB 2.0 chapter 9 and CDC 1.2 / PSTN, and the
 * control requests of a full enumeration as Linux and Windows send them, plus the variants the
 * rp2040js host sends (SET_CONTROL_LINE_STATE to the device), and request errors (stall). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "rec_protocol.h"
#include "usb/usb_cdc_proto.h"

#define ID 0x0123456789abcdefull

static usb_setup_t req(uint8_t type, uint8_t request, uint16_t value, uint16_t index, uint16_t length)
{
    usb_setup_t s = { type, request, value, index, length };
    return s;
}

static usb_cdc_t *fresh(void)
{
    static usb_cdc_t u;
    usb_cdc_init(&u, RP_USB_VENDOR_ID, RP_USB_PRODUCT_ID, ID);
    return &u;
}

static void test_setup_parse(void **state)
{
    (void)state;
    const uint8_t raw[8] = { 0x80, 0x06, 0x00, 0x02, 0x00, 0x00, 0x09, 0x00 };
    usb_setup_t s;
    usb_setup_parse(raw, &s);
    assert_int_equal(s.bmRequestType, 0x80);
    assert_int_equal(s.bRequest, USB_REQ_GET_DESCRIPTOR);
    assert_int_equal(s.wValue, 0x0200);
    assert_int_equal(s.wIndex, 0);
    assert_int_equal(s.wLength, 9);
}

static void test_device_descriptor(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    uint8_t d[USB_DEVICE_DESC_LEN];
    assert_int_equal(usb_cdc_device_descriptor(u, d), 18);
    assert_int_equal(d[0], 18);
    assert_int_equal(d[1], USB_DESC_DEVICE);
    assert_int_equal(d[2] | d[3] << 8, 0x0200);
    /* Miscellaneous device class with an interface association descriptor */
    assert_int_equal(d[4], 0xef);
    assert_int_equal(d[5], 0x02);
    assert_int_equal(d[6], 0x01);
    assert_int_equal(d[7], 64);
    assert_int_equal(d[8] | d[9] << 8, 0x1209);  /* PROTOCOL.usbVendorId */
    assert_int_equal(RP_USB_VENDOR_ID, 0x1209);
    assert_int_equal(d[10] | d[11] << 8, 0x7ec0); /* PROTOCOL.usbProductId */
    assert_int_equal(d[14], 1);
    assert_int_equal(d[15], 2);
    assert_int_equal(d[16], 3);
    assert_int_equal(d[17], 1);
}

/* Walks the configuration descriptor as a host does: every descriptor's length and type. */
static void test_config_descriptor(void **state)
{
    (void)state;
    uint8_t c[USB_CDC_CONFIG_LEN];
    assert_int_equal(usb_cdc_config_descriptor(c), 75);
    assert_int_equal(c[0], 9);
    assert_int_equal(c[1], USB_DESC_CONFIGURATION);
    assert_int_equal(c[2] | c[3] << 8, 75); /* wTotalLength */
    assert_int_equal(c[4], 2);              /* interfaces */
    assert_int_equal(c[5], 1);              /* bConfigurationValue */
    assert_int_equal(c[7] & 0x80, 0x80);    /* reserved bit 7 set */
    unsigned pos = 9, ifaces = 0, eps = 0, iads = 0, func = 0;
    int cur_iface = -1;
    while (pos < 75) {
        uint8_t len = c[pos], type = c[pos + 1];
        assert_true(len >= 2 && pos + len <= 75);
        switch (type) {
        case 0x0b: /* IAD */
            assert_int_equal(len, 8);
            assert_int_equal(c[pos + 2], 0);
            assert_int_equal(c[pos + 3], 2);
            assert_int_equal(c[pos + 4], 0x02);
            assert_int_equal(c[pos + 5], 0x02);
            iads++;
            break;
        case 0x04: /* interface */
            assert_int_equal(len, 9);
            cur_iface = c[pos + 2];
            if (cur_iface == 0) {
                assert_int_equal(c[pos + 4], 1);
                assert_int_equal(c[pos + 5], 0x02); /* communication */
                assert_int_equal(c[pos + 6], 0x02); /* ACM */
            } else {
                assert_int_equal(cur_iface, 1);
                assert_int_equal(c[pos + 4], 2);
                assert_int_equal(c[pos + 5], 0x0a); /* data */
            }
            ifaces++;
            break;
        case 0x24: /* class-specific interface */
            assert_int_equal(cur_iface, 0);
            if (c[pos + 2] == 0x06) { /* union: master 0, slave 1 */
                assert_int_equal(c[pos + 3], 0);
                assert_int_equal(c[pos + 4], 1);
            }
            if (c[pos + 2] == 0x01) assert_int_equal(c[pos + 4], 1); /* call management: data interface */
            if (c[pos + 2] == 0x02) assert_int_equal(c[pos + 3] & 0x02, 0x02); /* ACM: line coding */
            func++;
            break;
        case 0x05: /* endpoint */
            assert_int_equal(len, 7);
            if (cur_iface == 0) {
                assert_int_equal(c[pos + 2], USB_CDC_EP_NOTIFY);
                assert_int_equal(c[pos + 3], 0x03);
                assert_true(c[pos + 6] > 0);
            } else {
                assert_true(c[pos + 2] == USB_CDC_EP_OUT || c[pos + 2] == USB_CDC_EP_IN);
                assert_int_equal(c[pos + 3], 0x02);
                assert_int_equal(c[pos + 4] | c[pos + 5] << 8, 64);
            }
            eps++;
            break;
        default:
            fail_msg("unexpected descriptor type 0x%02x at %u", type, pos);
        }
        pos += len;
    }
    assert_int_equal(pos, 75);
    assert_int_equal(iads, 1);
    assert_int_equal(ifaces, 2);
    assert_int_equal(eps, 3);
    assert_int_equal(func, 4);
}

static void check_string(usb_cdc_t *u, uint8_t index, const char *want)
{
    usb_setup_t s = req(0x80, USB_REQ_GET_DESCRIPTOR, (uint16_t)(0x0300 | index), 0x0409, 255);
    usb_reply_t r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    size_t n = strlen(want);
    assert_int_equal(r.len, 2 + 2 * n);
    assert_int_equal(r.data[0], 2 + 2 * n);
    assert_int_equal(r.data[1], USB_DESC_STRING);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(r.data[2 + 2 * i], (uint8_t)want[i]);
        assert_int_equal(r.data[3 + 2 * i], 0);
    }
}

static void test_strings(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    usb_setup_t s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0300, 0, 255);
    usb_reply_t r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_int_equal(r.len, 4);
    assert_int_equal(r.data[2] | r.data[3] << 8, 0x0409);
    check_string(u, 1, USB_CDC_MANUFACTURER);
    check_string(u, 2, RP_USB_PRODUCT); /* PROTOCOL.usbProduct */
    check_string(u, 3, "0123456789ABCDEF");  /* the device id */
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0304, 0x0409, 255);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_STALL);
}

/* Linux's enumeration, then the cdc-acm driver opening the port. */
static void test_enumeration_linux(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    usb_setup_t s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, 0, 64);
    usb_reply_t r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_int_equal(r.len, 18);

    s = req(0x00, USB_REQ_SET_ADDRESS, 23, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_true(u->address_pending); /* applied by the driver after the status stage */
    assert_int_equal(u->address, 23);
    u->address_pending = false;

    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0100, 0, 18);
    assert_int_equal(usb_cdc_setup(u, &s).len, 18);
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0200, 0, 9);
    r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_int_equal(r.len, 9); /* clipped to wLength */
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0200, 0, 0xffff);
    assert_int_equal(usb_cdc_setup(u, &s).len, 75);
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0600, 0, 10); /* device qualifier: full speed only */
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_STALL);

    s = req(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0);
    u->toggle_reset = 0;
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_int_equal(u->configuration, 1);
    assert_int_equal(u->toggle_reset, USB_HALT_NOTIFY | USB_HALT_OUT | USB_HALT_IN);
    s = req(0x80, USB_REQ_GET_CONFIGURATION, 0, 0, 1);
    r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_int_equal(r.data[0], 1);
    assert_false(usb_cdc_connected(u));

    /* cdc-acm: SET_LINE_CODING (data stage), SET_CONTROL_LINE_STATE DTR|RTS */
    s = req(0x21, CDC_REQ_SET_LINE_CODING, 0, 0, 7);
    r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_OUT);
    assert_int_equal(r.len, 7);
    const uint8_t coding[7] = { 0x00, 0x10, 0x0e, 0x00, 0, 0, 8 }; /* 921600 8N1 */
    assert_true(usb_cdc_control_out(u, &s, coding, 7));
    s = req(0xa1, CDC_REQ_GET_LINE_CODING, 0, 0, 7);
    r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_memory_equal(r.data, coding, 7);
    s = req(0x21, CDC_REQ_SET_CONTROL_LINE_STATE, 3, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_true(usb_cdc_connected(u));
    s = req(0x21, CDC_REQ_SET_CONTROL_LINE_STATE, 0, 0, 0); /* port closed */
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_false(usb_cdc_connected(u));
}

/* rp2040js's host: SET_ADDRESS, configuration 9 then full, SET_CONFIGURATION, then
 * SET_CONTROL_LINE_STATE with bmRequestType 0x20 (class, recipient device). */
static void test_enumeration_emulator(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    usb_setup_t s = req(0x00, USB_REQ_SET_ADDRESS, 1, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0200, 0, 9);
    assert_int_equal(usb_cdc_setup(u, &s).len, 9);
    s = req(0x80, USB_REQ_GET_DESCRIPTOR, 0x0200, 0, 75);
    assert_int_equal(usb_cdc_setup(u, &s).len, 75);
    s = req(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    s = req(0x20, CDC_REQ_SET_CONTROL_LINE_STATE, 3, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_true(usb_cdc_connected(u));
    usb_cdc_bus_reset(u);
    assert_false(usb_cdc_connected(u));
    assert_int_equal(u->configuration, 0);
    assert_int_equal(u->address, 0);
}

static void test_request_errors(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    usb_setup_t s;
#define STALLS(t, r, v, i, l)                                                                                         \
    do {                                                                                                              \
        s = req(t, r, v, i, l);                                                                                       \
        assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_STALL);                                                 \
    } while (0)
    STALLS(0x00, USB_REQ_SET_CONFIGURATION, 2, 0, 0);   /* no such configuration */
    STALLS(0x00, USB_REQ_SET_ADDRESS, 128, 0, 0);       /* address out of range */
    STALLS(0x80, USB_REQ_GET_INTERFACE, 0, 0, 1);       /* wrong recipient */
    STALLS(0x81, USB_REQ_GET_INTERFACE, 0, 0, 1);       /* not configured yet */
    STALLS(0x40, 0x01, 0, 0, 0);                        /* vendor request */
    STALLS(0x00, USB_REQ_SET_FEATURE, 1, 0, 0);         /* remote wakeup: not supported */
    STALLS(0x00, USB_REQ_SET_DESCRIPTOR, 0x0100, 0, 18);
    STALLS(0x21, CDC_REQ_SET_LINE_CODING, 0, 0, 6);     /* wrong length */
    STALLS(0x21, CDC_REQ_SET_CONTROL_LINE_STATE, 3, 1, 0); /* the data interface has no line */
    STALLS(0xa1, CDC_REQ_SET_CONTROL_LINE_STATE, 3, 0, 0); /* wrong direction */
    STALLS(0x21, 0x42, 0, 0, 0);                        /* unknown class request */
    STALLS(0x82, USB_REQ_GET_STATUS, 0, USB_CDC_EP_IN, 2); /* endpoint not there before configuration */
    /* a line coding with an impossible data size is refused in the status stage */
    s = req(0x21, CDC_REQ_SET_LINE_CODING, 0, 0, 7);
    const uint8_t bad[7] = { 0x00, 0xc2, 0x01, 0x00, 0, 0, 9 };
    assert_false(usb_cdc_control_out(u, &s, bad, 7));
}

static void test_status_and_halt(void **state)
{
    (void)state;
    usb_cdc_t *u = fresh();
    usb_setup_t s = req(0x00, USB_REQ_SET_CONFIGURATION, 1, 0, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    s = req(0x80, USB_REQ_GET_STATUS, 0, 0, 2);
    usb_reply_t r = usb_cdc_setup(u, &s);
    assert_int_equal(r.kind, USB_REPLY_IN);
    assert_int_equal(r.len, 2);
    assert_int_equal(r.data[0] | r.data[1], 0); /* bus powered, no remote wakeup */
    s = req(0x81, USB_REQ_GET_STATUS, 0, 1, 2);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_IN);
    /* halt the bulk IN endpoint, see it in GET_STATUS, clear it: the toggle is reset */
    s = req(0x02, USB_REQ_SET_FEATURE, 0, USB_CDC_EP_IN, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_true(u->halted & USB_HALT_IN);
    s = req(0x82, USB_REQ_GET_STATUS, 0, USB_CDC_EP_IN, 2);
    r = usb_cdc_setup(u, &s);
    assert_int_equal(r.data[0], 1);
    u->toggle_reset = 0;
    s = req(0x02, USB_REQ_CLEAR_FEATURE, 0, USB_CDC_EP_IN, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    assert_false(u->halted & USB_HALT_IN);
    assert_int_equal(u->toggle_reset, USB_HALT_IN);
    s = req(0x82, USB_REQ_GET_STATUS, 0, 0x05, 2); /* no endpoint 5 */
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_STALL);
    s = req(0x01, USB_REQ_SET_INTERFACE, 0, 1, 0);
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_ACK);
    s = req(0x01, USB_REQ_SET_INTERFACE, 1, 1, 0); /* no alternate setting 1 */
    assert_int_equal(usb_cdc_setup(u, &s).kind, USB_REPLY_STALL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setup_parse),
        cmocka_unit_test(test_device_descriptor),
        cmocka_unit_test(test_config_descriptor),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_enumeration_linux),
        cmocka_unit_test(test_enumeration_emulator),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_status_and_halt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
