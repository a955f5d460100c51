/* zlib streams: a transform function around deflate/inflate (include/eddy/zlib.h).
 *
 * The z_stream is allocated with the transform on the loop's thread and used by one pool
 * thread at a time (the transform has one call in flight); zlib allocates nothing while it
 * runs, so pool threads never grow the heap. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/internal.h"
#include "eddy/zlib.h"

typedef struct {
    z_stream z;
    bool compress;
    bool multi;       /* gunzip/unzip: another gzip member may follow the one that ended */
    bool member_done; /* a stream's end was seen: what follows is a new member or dropped */
} zstate_t;

static int map_error(int zr)
{
    switch (zr) {
    case Z_MEM_ERROR: return -ENOMEM;
    case Z_DATA_ERROR:
    case Z_NEED_DICT: return -EBADMSG;
    default: return -EPROTO;
    }
}

static int zlib_fn(void *state, eddy_transform_io_t *io)
{
    zstate_t *st = state;
    z_stream *z = &st->z;
    if (st->member_done) {
        if (st->multi && io->in_len > 0 && (unsigned char)io->in[0] == 0x1f) {
            inflateReset(z); /* gzip members one after another, as Node reads them */
            st->member_done = false;
        } else { /* trailing bytes after a complete stream are dropped */
            io->in_used = io->in_len;
            io->out_used = 0;
            return io->end ? EDDY_TRANSFORM_DONE : 0;
        }
    }
    z->next_in = (Bytef *)io->in;
    z->avail_in = (uInt)io->in_len;
    z->next_out = (Bytef *)io->out;
    z->avail_out = (uInt)io->out_len;
    int zr;
    if (st->compress) {
        zr = deflate(z, io->end ? Z_FINISH : Z_NO_FLUSH);
    } else {
        zr = inflate(z, Z_NO_FLUSH);
    }
    io->in_used = io->in_len - z->avail_in;
    io->out_used = io->out_len - z->avail_out;
    if (zr == Z_STREAM_END) {
        if (st->compress) return EDDY_TRANSFORM_DONE;
        st->member_done = true;
        return io->end && io->in_used == io->in_len ? EDDY_TRANSFORM_DONE : 0;
    }
    if (zr == Z_OK || zr == Z_BUF_ERROR) return 0; /* no progress is judged by the caller */
    return map_error(zr);
}

static void zlib_free(void *state)
{
    zstate_t *st = state;
    if (st->compress)
        deflateEnd(&st->z);
    else
        inflateEnd(&st->z);
    free(st);
}

static int window_for(eddy_zlib_mode mode, int bits)
{
    switch (mode) {
    case EDDY_ZLIB_GZIP:
    case EDDY_ZLIB_GUNZIP: return bits + 16;
    case EDDY_ZLIB_DEFLATE_RAW:
    case EDDY_ZLIB_INFLATE_RAW: return -bits;
    case EDDY_ZLIB_UNZIP: return bits + 32;
    default: return bits;
    }
}

EDDY_EXPORT int eddy_zlib_init(eddy_loop_t *loop, eddy_zlib_t *zs, eddy_zlib_mode mode,
                               const eddy_zlib_opts_t *opts)
{
    eddy_zlib_opts_t o = {0};
    if (opts) o = *opts;
    if (mode < EDDY_ZLIB_GZIP || mode > EDDY_ZLIB_UNZIP) return -EINVAL;
    int bits = o.window_bits ? o.window_bits : 15;
    int mem = o.mem_level ? o.mem_level : 8;
    int level = o.level == 0 ? Z_DEFAULT_COMPRESSION : o.level < 0 ? 0 : o.level;
    if (bits < 9 || bits > 15 || mem < 1 || mem > 9 || level > 9) return -EINVAL;
    zstate_t *st = calloc(1, sizeof *st);
    if (st == NULL) return -ENOMEM;
    st->compress = mode <= EDDY_ZLIB_DEFLATE_RAW;
    st->multi = mode == EDDY_ZLIB_GUNZIP || mode == EDDY_ZLIB_UNZIP;
    int zr = st->compress ? deflateInit2(&st->z, level, Z_DEFLATED, window_for(mode, bits), mem,
                                         o.strategy)
                          : inflateInit2(&st->z, window_for(mode, bits));
    if (zr != Z_OK) {
        free(st);
        return map_error(zr);
    }
    eddy_transform_opts_t to = {
        .chunk_size = o.chunk_size ? o.chunk_size : 16 * 1024,
        .input_max = o.input_max,
        .work_class = EDDY_WORK_CPU,
    };
    int err = eddy_transform_init(loop, &zs->transform, zlib_fn, st, zlib_free, &to);
    if (err) {
        zlib_free(st);
        return err;
    }
    zs->_mode = mode;
    return 0;
}
