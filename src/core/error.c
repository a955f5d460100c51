/* Error text. glibc's strerrordesc_np/strerrorname_np return static strings, so these are
 * thread-safe, unlike strerror(3). */
#include "core/internal.h"

#include <string.h>

EDDY_EXPORT const char *eddy_strerror(int err)
{
    if (err == EDDY_EOF)
        return "end of file";
    const char *s = err < 0 ? strerrordesc_np(-err) : NULL;
    return s ? s : "unknown error";
}

EDDY_EXPORT const char *eddy_err_name(int err)
{
    if (err == EDDY_EOF)
        return "EOF";
    const char *s = err < 0 ? strerrorname_np(-err) : NULL;
    return s ? s : "UNKNOWN";
}
