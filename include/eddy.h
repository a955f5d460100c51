/* eddy: Node.js's concurrency architecture as a C library. Only #includes live here. */
#ifndef EDDY_H
#define EDDY_H

#include "eddy/error.h"
#include "eddy/loop.h"
#include "eddy/timer.h"
#include "eddy/immediate.h"
#include "eddy/async.h"
#include "eddy/signal.h"
#include "eddy/pool.h"
#include "eddy/stream.h"
#include "eddy/tcp.h"
#include "eddy/unix.h"
#include "eddy/file_stream.h"
#include "eddy/transform.h"
#include "eddy/zlib.h"
#include "eddy/fs.h"
#include "eddy/fs_watch.h"
#include "eddy/dns.h"
#include "eddy/crypto.h"

#endif
