/* zlib streams: Node's zlib.createGzip, createGunzip, createDeflate, createInflate, ... as
 * transforms (transform.h). Compression and decompression run on the thread pool (class
 * EDDY_WORK_CPU), one chunk per call, one call per stream in flight; the loop only moves
 * chunks. The seed's /download example is
 *
 *     eddy_file_read_stream_open(loop, &file, path, NULL);
 *     eddy_zlib_init(loop, &gz, EDDY_ZLIB_GZIP, NULL);
 *     eddy_http_res_set_header(res, "Content-Encoding", "gzip");
 *     eddy_stream_pipe(&pipe1, &file.stream, &gz.transform.stream, 0, on_piped);
 *     eddy_stream_pipe(&pipe2, &gz.transform.stream, eddy_http_res_stream(res), 0, on_sent);
 *
 * Decompression errors reach the reader (and the writers) as -EBADMSG (corrupt data) or
 * -EPROTO (input ended inside a stream). */
#ifndef EDDY_ZLIB_H
#define EDDY_ZLIB_H

#include "transform.h"

/** What a zlib stream does. */
typedef enum {
    EDDY_ZLIB_GZIP = 1,    /**< compress, gzip format (RFC 1952) */
    EDDY_ZLIB_DEFLATE,     /**< compress, zlib format (RFC 1950) */
    EDDY_ZLIB_DEFLATE_RAW, /**< compress, raw deflate (RFC 1951) */
    EDDY_ZLIB_GUNZIP,      /**< decompress gzip (concatenated members too) */
    EDDY_ZLIB_INFLATE,     /**< decompress the zlib format */
    EDDY_ZLIB_INFLATE_RAW, /**< decompress raw deflate */
    EDDY_ZLIB_UNZIP        /**< decompress gzip or zlib, detected from the header */
} eddy_zlib_mode;

/** zlib parameters; zero values take zlib's defaults (Node's). */
typedef struct {
    int level;           /**< 1..9; 0: Z_DEFAULT_COMPRESSION (6); -1: stored, no compression */
    int mem_level;       /**< 1..9 (8): compression state is about 2^(mem_level+9)+2^(window+2) */
    int window_bits;     /**< 9..15 (15) */
    int strategy;        /**< Z_DEFAULT_STRATEGY (0), Z_FILTERED, ... */
    size_t chunk_size;   /**< output chunk size (16 KiB, Node's zlib chunkSize) */
    size_t input_max;    /**< input bytes per pool call (64 KiB) */
} eddy_zlib_opts_t;

/** A zlib stream: a transform; use &z->transform.stream as the stream. */
typedef struct eddy_zlib_s {
    eddy_transform_t transform;
    /* private */
    int _mode;
} eddy_zlib_t;

/** Initialises a zlib stream (allocates zlib's state here, on the loop's thread). Close it with
 * eddy_close(&z->transform.stream.handle, cb). */
int eddy_zlib_init(eddy_loop_t *loop, eddy_zlib_t *z, eddy_zlib_mode mode,
                   const eddy_zlib_opts_t *opts);
/** The stream of a zlib stream. */
static inline eddy_stream_t *eddy_zlib_stream(eddy_zlib_t *z)
{
    return &z->transform.stream;
}

#endif
