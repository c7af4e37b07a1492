/* reservation.h (internal, not installed): the line cxr-train writes at the default model name
 * it reserves until its first save ("cxr-train: reserved by pid P on HOST, machine M, boot B"),
 * and whether the run that wrote one is gone. cxr-train takes such a name over (tools/
 * train_files.c); the readers of checkpoints say what the file is (formats/h5.c). One test of
 * "gone" for both, so that what cxr-eval calls a dead run's leftover is what cxr-train reclaims. */
#ifndef CXR_RESERVATION_H
#define CXR_RESERVATION_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a reservation's line starts with; the pid follows. */
#define CXR_RESERVATION_HEAD "cxr-train: reserved by pid "

/* Whose a reservation is, after "pid P": " on HOST, machine M, boot " into buf[cap] (the boot
 * id follows, into boot[64]). M: the machine id, else (a container without /etc/machine-id)
 * "boot:" and the boot id, which names this machine for this boot only. */
void cxr_reservation_where(char *buf, size_t cap, char *boot);

/* 1 when `line` (NUL-terminated) is a reservation whose run is gone: this host and machine
 * (same hostname and machine id, the latter known), and another boot of it or, in this boot, a
 * pid that no longer exists (kill(pid, 0): ESRCH). Anything else (another machine, one with the
 * same name, an unknown machine, a live or unknown pid, not a reservation) is 0. */
int cxr_reservation_gone(const char *line);

#ifdef __cplusplus
}
#endif

#endif
