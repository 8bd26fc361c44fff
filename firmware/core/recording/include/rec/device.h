/* The device context: settings, clock, card store, recorder state and the audio ring, in one
 * struct that the recorder (recorder.h) and the protocol server (server.h) work on, and the
 * functions that keep it (device.c): clock, settings, card attach/detach and format. The
 * application loop (app.c) owns the one instance (rec_device() in app.h); functions take it
 * explicitly so tests can drive them. */
#ifndef REC_DEVICE_H
#define REC_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "rec/audio_ring.h"
#include "rec/identity.h"
#include "rec/recorder.h"
#include "rec/seal.h"
#include "rec/settings.h"
#include "rec/store.h"

#define REC_FW_MAJOR 0
#define REC_FW_MINOR 1
#define REC_FW_PATCH 0

#ifndef REC_AUDIO_RING_BYTES
#define REC_AUDIO_RING_BYTES 65536
#endif

struct rec_device {
    rec_settings_t settings;
    rec_store_t store;
    const rec_bd_t *bd;         /* NULL when no card is open */
    const char *model;
    bool simulated;

    /* wall clock: base plus uptime since it was set */
    bool clock_set;
    int64_t clock_base_unix_ms;
    uint64_t clock_base_uptime_ms;

    uint8_t rec_state;          /* RP_REC_STATE_* */
    uint8_t last_stop_reason;   /* RP_STOP_* of the last recording */
    int last_error;             /* last card error, for INFO and the LED */
    bool low_battery;
    uint16_t battery_mv;
    uint64_t last_battery_ms;
    uint32_t overruns_total;    /* journal sum plus the current recording */
    uint8_t interrupted_reason; /* reason to journal when recovering after a card removal */
    bool state_changed;         /* a STATE event is owed to the host */
    uint32_t generation;        /* bumped when files may have changed underneath (card, format, delete) */
    bool led_on;
    /* Called when the card is detached, so that whoever keeps files open on it (the server)
     * drops them; set by the application loop. */
    void (*on_detach)(void);

    rec_identity_t identity;    /* the device key (evidence/identity.c); has_key false until provisioned */
    rec_seal_t seal;            /* statement files written after stop (evidence/seal.c) */

    rec_ring_t ring;            /* also the scratch lent to card mount, repair and format */
    rec_recording_state_t cur;
};

/* Wall clock now; false (and *unix_ms 0) when it was never set. */
bool rec_device_clock_now(rec_device_t *d, int64_t *unix_ms);
void rec_device_set_clock(rec_device_t *d, int64_t unix_ms);
/* Loads the settings through the port, or starts from defaults with a device id (saved). */
void rec_device_load_settings(rec_device_t *d);
int rec_device_save_settings(rec_device_t *d);

/* Opens and mounts the card, recovers unjournalled recordings. Sets card state. */
int rec_device_attach_card(rec_device_t *d);
void rec_device_detach_card(rec_device_t *d);
int rec_device_format(rec_device_t *d);

#endif
