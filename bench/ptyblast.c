/* Raw pseudo-terminal throughput, the ceiling the app is compared with: opens a pty in raw mode
 * (as the simulator does), puts a symlink to its slave at LINK, prints "ready", waits for a
 * reader to send one byte, then writes BYTES bytes to the master as fast as the pty takes them
 * (non-blocking writes and poll, like the simulator) and exits.
 *
 *   ptyblast LINK BYTES
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ptyblast LINK BYTES\n");
        return 2;
    }
    long long total = atoll(argv[2]);
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0 || grantpt(m) || unlockpt(m)) return 1;
    const char *name = ptsname(m);
    int s = open(name, O_RDWR | O_NOCTTY); /* kept open, as the simulator does */
    struct termios t;
    tcgetattr(s, &t);
    cfmakeraw(&t);
    tcsetattr(s, TCSANOW, &t);
    unlink(argv[1]);
    if (symlink(name, argv[1])) return 1;
    printf("ready\n");
    fflush(stdout);
    char go;
    while (read(m, &go, 1) != 1) {
    }
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK);
    static char buf[65536];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(i * 7 + 1);
    long long sent = 0;
    while (sent < total) {
        size_t n = total - sent < (long long)sizeof buf ? (size_t)(total - sent) : sizeof buf;
        ssize_t w = write(m, buf, n);
        if (w > 0) {
            sent += w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR) return 1;
        struct pollfd p = { .fd = m, .events = POLLOUT };
        poll(&p, 1, 10);
    }
    /* Let the reader drain before the pty goes away. */
    char ack;
    fcntl(m, F_SETFL, fcntl(m, F_GETFL) & ~O_NONBLOCK);
    (void)read(m, &ack, 1);
    unlink(argv[1]);
    close(s);
    close(m);
    return 0;
}
