/* Simulator port: the serial link is a pseudo-terminal.
 *
 * The master side is the device's end (non-blocking). The slave side is what the host app opens,
 * through a symlink at --link. We keep a slave fd open ourselves for the whole run, so the master
 * never sees EIO/HUP when the app closes and reopens the port, and the raw mode we set on the
 * slave persists across the app's opens. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "rec/port.h"
#include "sim_internal.h"

static int master_fd = -1;
static int slave_fd = -1;
static char *link_path;
static atomic_bool connected = true;
/* Input wakes the main loop only after the core has read since the last such wake-up, so bytes
 * the core chooses to leave waiting do not make the loop spin. */
static bool rx_armed = true;
/* A write was cut short (the app has not read what is queued): wake when there is room again,
 * so that a long transfer does not wait out an idle period each time the buffer fills. */
static bool tx_blocked;

int sim_pty_open(const char *link)
{
    master_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) {
        sim_err("cannot create a pseudo-terminal: %s", strerror(errno));
        return -1;
    }
    const char *name = ptsname(master_fd);
    if (!name) {
        sim_err("ptsname: %s", strerror(errno));
        return -1;
    }
    slave_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_fd < 0) {
        sim_err("cannot open %s: %s", name, strerror(errno));
        return -1;
    }
    struct termios tio;
    if (tcgetattr(slave_fd, &tio) == 0) {
        cfmakeraw(&tio);
        tio.c_cc[VMIN] = 1;
        tio.c_cc[VTIME] = 0;
        tcsetattr(slave_fd, TCSANOW, &tio);
    }
    int fl = fcntl(master_fd, F_GETFL);
    fcntl(master_fd, F_SETFL, fl | O_NONBLOCK);

    /* Replace a stale link (or file) at the path; refuse to clobber a directory. */
    if (unlink(link) != 0 && errno != ENOENT) {
        sim_err("cannot replace %s: %s", link, strerror(errno));
        return -1;
    }
    if (symlink(name, link) != 0) {
        sim_err("cannot link %s -> %s: %s", link, name, strerror(errno));
        return -1;
    }
    link_path = strdup(link);
    return 0;
}

void sim_pty_close(void)
{
    if (link_path) {
        /* Only remove the link if it is still ours. */
        char target[256];
        ssize_t n = readlink(link_path, target, sizeof target - 1);
        const char *name = master_fd >= 0 ? ptsname(master_fd) : NULL;
        if (n > 0 && name) {
            target[n] = '\0';
            if (strcmp(target, name) == 0)
                unlink(link_path);
        }
        free(link_path);
        link_path = NULL;
    }
    if (slave_fd >= 0)
        close(slave_fd);
    if (master_fd >= 0)
        close(master_fd);
    slave_fd = master_fd = -1;
}

static void drain_input(void)
{
    uint8_t junk[4096];
    while (read(master_fd, junk, sizeof junk) > 0) {
    }
}

void sim_pty_set_connected(bool c)
{
    if (!c && master_fd >= 0)
        drain_input();
    atomic_store(&connected, c);
    rx_armed = true;
    tx_blocked = false;
}

int sim_pty_poll_fd(short *events)
{
    *events = 0;
    if (master_fd < 0)
        return -1;
    if (!atomic_load(&connected)) {
        *events = POLLIN; /* so that what the host sends while "unplugged" is thrown away */
        return master_fd;
    }
    if (rx_armed)
        *events |= POLLIN;
    if (tx_blocked)
        *events |= POLLOUT;
    return *events ? master_fd : -1;
}

void sim_pty_on_ready(short revents)
{
    if (!atomic_load(&connected)) {
        drain_input();
        return;
    }
    if (revents & POLLIN)
        rx_armed = false;
    if (revents & POLLOUT)
        tx_blocked = false;
}

size_t port_serial_read(uint8_t *buf, size_t max)
{
    rx_armed = true;
    if (master_fd < 0 || max == 0 || !atomic_load(&connected))
        return 0;
    for (;;) {
        ssize_t n = read(master_fd, buf, max);
        if (n > 0)
            return (size_t)n;
        if (n < 0 && errno == EINTR)
            continue;
        return 0; /* EAGAIN, EIO (no reader), or anything else: nothing this time */
    }
}

size_t port_serial_write(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (master_fd < 0 || !atomic_load(&connected))
        return len; /* an unplugged cable: the bytes go nowhere */
    for (;;) {
        ssize_t n = write(master_fd, buf, len);
        if (n >= 0) {
            tx_blocked = (size_t)n < len;
            return (size_t)n;
        }
        if (errno == EINTR)
            continue;
        tx_blocked = true;
        return 0; /* EAGAIN: the pty buffer is full (the app is not reading); EIO: try later */
    }
}

bool port_serial_connected(void)
{
    return atomic_load(&connected);
}
