/*
 * Preloaded into wrk by benches/tls_load.py (LD_PRELOAD): every TLS
 * connection wrk opens makes a full handshake, and wrk counts them.
 *
 * wrk keeps one OpenSSL SSL object per connection slot and resets it with
 * SSL_clear between connections, which keeps the session: after its first
 * handshake each slot offers to resume (a TLS 1.3 PSK or a TLS 1.2 session
 * id), and a server that allows resumption then skips the certificate and
 * its signature. Dropping the session before a handshake begins makes
 * every handshake a full one, whatever the server allows.
 *
 * With TLS_LOAD_COUNTS=FILE in the environment, the process writes
 * "handshakes N resumed M" to FILE at exit: the handshakes completed, and
 * how many of them the server resumed anyway (none, if this works), so
 * that the benchmark can check both.
 *
 * Build: cc -O2 -shared -fPIC -o no_resume.so no_resume.c -ldl
 * It declares the few OpenSSL functions it calls instead of including
 * OpenSSL's headers, and finds them at run time in wrk's libssl.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;

static int (*real_connect)(SSL *);
static int (*in_before)(const SSL *);
static int (*set_session)(SSL *, SSL_SESSION *);
static int (*session_reused)(const SSL *);
static unsigned long handshakes, resumed;

__attribute__((constructor)) static void find_openssl(void) {
    /* NULL in a process without libssl (taskset, which execs wrk). */
    real_connect = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_connect");
    in_before = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_in_before");
    set_session = (int (*)(SSL *, SSL_SESSION *))dlsym(RTLD_NEXT, "SSL_set_session");
    session_reused = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_session_reused");
}

/* wrk calls SSL_connect on a non-blocking socket again and again until the
 * handshake ends: the session is dropped only before the first call. */
int SSL_connect(SSL *ssl) {
    if (!real_connect || !in_before || !set_session || !session_reused) {
        fprintf(stderr, "no_resume: OpenSSL's functions not found\n");
        abort();
    }
    if (in_before(ssl)) {
        set_session(ssl, NULL);
    }
    int r = real_connect(ssl);
    if (r == 1) {
        __atomic_add_fetch(&handshakes, 1, __ATOMIC_RELAXED);
        if (session_reused(ssl)) {
            __atomic_add_fetch(&resumed, 1, __ATOMIC_RELAXED);
        }
    }
    return r;
}

__attribute__((destructor)) static void report(void) {
    const char *path = getenv("TLS_LOAD_COUNTS");
    if (!path || !real_connect) {
        return;
    }
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "handshakes %lu resumed %lu\n", handshakes, resumed);
        fclose(f);
    }
}
