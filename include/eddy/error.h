/* Errors: every function returns 0 (or a count) on success and a negative errno on failure;
 * callbacks receive `int status` the same way. EDDY_EOF marks the end of a stream. */
#ifndef EDDY_ERROR_H
#define EDDY_ERROR_H

#include <errno.h>

/** End of stream (not an errno value; chosen outside errno's range as libuv does). */
#define EDDY_EOF (-4095)

#define EDDY_EAGAIN (-EAGAIN)
#define EDDY_EBUSY (-EBUSY)
#define EDDY_ECANCELED (-ECANCELED)
#define EDDY_ECONNREFUSED (-ECONNREFUSED)
#define EDDY_ECONNRESET (-ECONNRESET)
#define EDDY_EINVAL (-EINVAL)
#define EDDY_EMFILE (-EMFILE)
#define EDDY_ENOMEM (-ENOMEM)
#define EDDY_ENOTCONN (-ENOTCONN)
#define EDDY_EPIPE (-EPIPE)
#define EDDY_ETIMEDOUT (-ETIMEDOUT)
#define EDDY_EADDRINUSE (-EADDRINUSE)
#define EDDY_ENOENT (-ENOENT)
#define EDDY_EALREADY (-EALREADY)

/** A human-readable description of a negative error code ("connection reset by peer"). */
const char *eddy_strerror(int err);

/** The symbolic name of a negative error code ("ECONNRESET", "EOF"). */
const char *eddy_err_name(int err);

#endif
