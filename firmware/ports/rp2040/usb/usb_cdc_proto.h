/* USB CDC-ACM device logic without hardware: descriptors and control requests (USB 2.0 chapter
 * 9, CDC 1.2 / PSTN 1.2). The RP2040 driver (../usb_rp2040.c) moves packets; this module
 * decides what they say. Host unit tests: firmware/tests/test_usb_cdc.c.
 *
 * Dispatch follows the request type bits (standard / class), not only the recipient: some hosts
 * (and the rp2040js emulator) send SET_CONTROL_LINE_STATE to the device rather than the
 * interface; both are accepted when wIndex names the communication interface (0). */
#ifndef USB_CDC_PROTO_H
#define USB_CDC_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rec_protocol.h"

#define USB_EP0_SIZE 64u
#define USB_CDC_EP_NOTIFY 0x81u
#define USB_CDC_EP_OUT 0x02u
#define USB_CDC_EP_IN 0x82u
#define USB_CDC_BULK_SIZE 64u
#define USB_CDC_NOTIFY_SIZE 16u
#define USB_CDC_CONFIG_LEN 75u
#define USB_DEVICE_DESC_LEN 18u

/* Request types (bmRequestType bits 6:5) and recipients (bits 4:0) */
#define USB_TYPE_STANDARD 0u
#define USB_TYPE_CLASS 1u
#define USB_RECIP_DEVICE 0u
#define USB_RECIP_INTERFACE 1u
#define USB_RECIP_ENDPOINT 2u

/* Standard requests */
#define USB_REQ_GET_STATUS 0x00u
#define USB_REQ_CLEAR_FEATURE 0x01u
#define USB_REQ_SET_FEATURE 0x03u
#define USB_REQ_SET_ADDRESS 0x05u
#define USB_REQ_GET_DESCRIPTOR 0x06u
#define USB_REQ_SET_DESCRIPTOR 0x07u
#define USB_REQ_GET_CONFIGURATION 0x08u
#define USB_REQ_SET_CONFIGURATION 0x09u
#define USB_REQ_GET_INTERFACE 0x0au
#define USB_REQ_SET_INTERFACE 0x0bu
/* CDC class requests */
#define CDC_REQ_SET_LINE_CODING 0x20u
#define CDC_REQ_GET_LINE_CODING 0x21u
#define CDC_REQ_SET_CONTROL_LINE_STATE 0x22u
#define CDC_REQ_SEND_BREAK 0x23u

#define USB_DESC_DEVICE 1u
#define USB_DESC_CONFIGURATION 2u
#define USB_DESC_STRING 3u
#define USB_DESC_DEVICE_QUALIFIER 6u

typedef struct {
    uint8_t bmRequestType;
    uint8_t bRequest;
    uint16_t wValue;
    uint16_t wIndex;
    uint16_t wLength;
} usb_setup_t;

typedef enum {
    USB_REPLY_STALL = 0, /* request error: stall the data or status stage */
    USB_REPLY_ACK,       /* no data stage: zero-length status packet IN */
    USB_REPLY_IN,        /* data stage IN (data, len already clipped to wLength), status OUT */
    USB_REPLY_OUT,       /* data stage OUT of wLength bytes: pass them to usb_cdc_control_out */
} usb_reply_kind_t;

typedef struct {
    usb_reply_kind_t kind;
    const uint8_t *data;
    uint16_t len;
} usb_reply_t;

typedef struct {
    uint16_t vid, pid;
    uint8_t configuration;      /* 0 = address/default state, 1 = configured */
    uint8_t address;            /* assigned by SET_ADDRESS ... */
    bool address_pending;       /* ... and applied by the driver after the status stage */
    uint16_t line_state;        /* SET_CONTROL_LINE_STATE: bit 0 DTR, bit 1 RTS */
    uint8_t line_coding[7];     /* dwDTERate LE, bCharFormat, bParityType, bDataBits */
    uint8_t halted;             /* bit per endpoint: 0 notify IN, 1 bulk OUT, 2 bulk IN */
    uint8_t toggle_reset;       /* endpoints whose data toggle the driver must reset to DATA0 */
    char serial[17];            /* 16 upper-case hex digits of the device id */
    uint8_t scratch[USB_CDC_CONFIG_LEN]; /* GET_DESCRIPTOR / GET_STATUS answers are built here */
} usb_cdc_t;

#define USB_HALT_NOTIFY 1u
#define USB_HALT_OUT 2u
#define USB_HALT_IN 4u

void usb_cdc_init(usb_cdc_t *u, uint16_t vid, uint16_t pid, uint64_t serial_id);
/* Bus reset: back to the default state (address 0, not configured, DTR off). */
void usb_cdc_bus_reset(usb_cdc_t *u);
void usb_setup_parse(const uint8_t raw[8], usb_setup_t *out);
usb_reply_t usb_cdc_setup(usb_cdc_t *u, const usb_setup_t *s);
/* Data stage of an OUT request (SET_LINE_CODING); false means stall the status stage. */
bool usb_cdc_control_out(usb_cdc_t *u, const usb_setup_t *s, const uint8_t *data, uint16_t len);
/* A host has the port open: configured and DTR set. */
bool usb_cdc_connected(const usb_cdc_t *u);

/* Descriptors, for tests and tools. Each returns its length. */
size_t usb_cdc_device_descriptor(const usb_cdc_t *u, uint8_t out[USB_DEVICE_DESC_LEN]);
size_t usb_cdc_config_descriptor(uint8_t out[USB_CDC_CONFIG_LEN]);
/* String descriptor `index` (0 = languages) into out (at least 64 bytes); 0 if none. */
size_t usb_cdc_string_descriptor(const usb_cdc_t *u, uint8_t index, uint8_t *out, size_t cap);

#define USB_CDC_MANUFACTURER "Evidence Recorder project"
#define USB_CDC_PRODUCT RP_USB_PRODUCT /* PROTOCOL.usbProduct in protocol/src/schema.ts */

#endif
