/*
 * The C kernel of stproxy_monitor.logs.lineindex: one pass over a region of whole log lines.
 *
 * It computes exactly what lineindex's numpy kernel computes (the tests compare both with
 * each other and with plain-Python references): lines, the longest line, record lines and
 * their type letters (the bytes RECORD_HEADER would match), the CLFRX ids it can decide
 * and the candidate lines the parser looks at. Optional: without a C compiler the package
 * installs without it and lineindex uses numpy.
 *
 * Every read stays inside [begin, end) of the caller's buffer; the region ends with a
 * newline (checked), so a line's end is always a real newline byte. The GIL is released
 * while scanning a read-only buffer (bytes); a writable one (bytearray) keeps it, so that no
 * other thread can change the bytes under the scan.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t *data;
    Py_ssize_t len, cap;
} Offsets;

typedef struct {
    unsigned char *data;
    Py_ssize_t len, cap;
} Letters;

static int offsets_push(Offsets *v, int64_t x) {
    if (v->len == v->cap) {
        Py_ssize_t cap = v->cap ? v->cap * 2 : 1024;
        int64_t *grown = realloc(v->data, (size_t)cap * sizeof(int64_t));
        if (grown == NULL) return -1;
        v->data = grown;
        v->cap = cap;
    }
    v->data[v->len++] = x;
    return 0;
}

static int letters_push(Letters *v, unsigned char x) {
    if (v->len == v->cap) {
        Py_ssize_t cap = v->cap ? v->cap * 2 : 1024;
        unsigned char *grown = realloc(v->data, (size_t)cap);
        if (grown == NULL) return -1;
        v->data = grown;
        v->cap = cap;
    }
    v->data[v->len++] = x;
    return 0;
}

enum { HEX = 1, UPPER = 2, DIGIT = 4, SKIP = 8, ID_END = 16 };

/* The first four bytes of a message that may make it a line event, as native words. */
static uint32_t ISSU, SUBJ, FROM, TO_PAREN, WEBS, STARS, MD5_, LOW3;

static uint32_t word_of(const char *text) {
    uint32_t w;
    memcpy(&w, text, 4);
    return w;
}

static unsigned char CLASS[256];

static void init_classes(void) {
    const char *hex = "0123456789abcdefABCDEF";
    for (const char *c = hex; *c; c++) CLASS[(unsigned char)*c] |= HEX;
    for (int c = 'A'; c <= 'Z'; c++) CLASS[c] |= UPPER;
    for (int c = '0'; c <= '9'; c++) CLASS[c] |= DIGIT;
    /* Python's str.isspace() among ASCII, without the newline. */
    const char *skip = "\t\x0b\x0c\r\x1c\x1d\x1e\x1f ";
    for (const char *c = skip; *c; c++) CLASS[(unsigned char)*c] |= SKIP | ID_END;
    CLASS[':'] |= ID_END;
    CLASS['\n'] |= ID_END;
    ISSU = word_of("Issu");
    SUBJ = word_of("Subj");
    FROM = word_of("From");
    TO_PAREN = word_of("To (");
    WEBS = word_of("WebS");
    STARS = word_of("****");
    MD5_ = word_of("MD5\0");
    LOW3 = word_of("\xff\xff\xff\0");
}

#define HEADER_SPAN 27 /* bytes from "]" to the space after the type letter */

/* Offset of the "]" that ends a record header starting at s (a[s] == '['), or -1. */
static Py_ssize_t record_close(const unsigned char *a, Py_ssize_t s, Py_ssize_t e) {
    const unsigned char *first_close = memchr(a + s + 1, ']', (size_t)(e - s - 1));
    if (first_close == NULL) return -1;
    Py_ssize_t p = first_close - a;
    if (p < s + 2 || p + HEADER_SPAN - 1 >= e) return -1;
    if (memchr(a + s + 1, '\r', (size_t)(p - s - 1)) != NULL) return -1; /* a CR in the time */
    const unsigned char *h = a + p;
    if (h[1] != ' ' || h[10] != ' ' || h[24] != ' ' || h[26] != ' ') return -1;
    if (!(CLASS[h[25]] & UPPER)) return -1;
    for (int i = 2; i < 10; i++)
        if (!(CLASS[h[i]] & HEX)) return -1;
    for (int i = 11; i < 24; i++)
        if (h[i] == '\r') return -1;
    return p;
}

/* The message begins like a line event (parser.LogParser._line_events): IBM block keys, the process
 * line, the banners of a header block; a non-ASCII first byte may be Unicode whitespace, so
 * the parser decides on it. */
static int message_candidate(const unsigned char *a, Py_ssize_t m, Py_ssize_t e) {
    if (m >= e) return 0;
    if (a[m] >= 0x80) return 1;
    if (e - m < 4) return e - m == 3 && memcmp(a + m, "MD5", 3) == 0;
    uint32_t w;
    memcpy(&w, a + m, 4);
    return w == ISSU || w == SUBJ || w == FROM || w == TO_PAREN || w == WEBS || w == STARS ||
           (w & LOW3) == MD5_;
}

/* Whether the third word of a class+method message starting at `message` starts at h, as
 * messages.message_id splits it (rest.split(" ", 3)[2]): exactly two spaces in [message, h),
 * the second right before h. Every byte before h must be ASCII, so that the bytes split as
 * the decoded text does whatever the encoding; the class or the method may be empty. */
static int third_word_at(const unsigned char *a, Py_ssize_t message, Py_ssize_t h) {
    if (h < message + 2 || a[h - 1] != ' ') return 0;
    int spaces = 0;
    for (Py_ssize_t i = message; i < h; i++) {
        if (a[i] >= 0x80) return 0;
        if (a[i] == ' ' && ++spaces > 2) return 0;
    }
    return spaces == 2;
}

/* Whether the "CLFRX" at h is the id of the record (not CLFRX0079W), decided as
 * messages.message_id decides it (and _npindex._clfrx_ids): the first token after two
 * spaces, the first word of System.out/err text (O, R), else the third word, after the class
 * and method names, unless the message begins like a line event (`keyed`: the parser must
 * see it). */
static int clfrx_decided(const unsigned char *a, Py_ssize_t h, Py_ssize_t message,
                         Py_ssize_t first, unsigned char type, int keyed, Py_ssize_t e) {
    if (h + 10 > e) return 0;
    int two_spaces = message + 1 < e && a[message] == ' ' && a[message + 1] == ' ';
    if (two_spaces) {
        if (first != h) return 0;
    } else if (type == 'O' || type == 'R') {
        if (h != message) return 0;
    } else if (keyed || !third_word_at(a, message, h)) {
        return 0;
    }
    for (int i = 5; i < 9; i++)
        if (!(CLASS[a[h + i]] & DIGIT)) return 0;
    if (!(CLASS[a[h + 9]] & UPPER) || !(CLASS[a[h + 10]] & ID_END)) return 0;
    return memcmp(a + h + 5, "0079W", 5) != 0;
}

/* Offsets of `needle` in a[0:n], found from its byte at `anchor` (a rare one) by memchr. */
static int find_all(const unsigned char *a, Py_ssize_t n, const char *needle, Py_ssize_t anchor,
                    Offsets *out) {
    Py_ssize_t length = (Py_ssize_t)strlen(needle);
    Py_ssize_t at = anchor;
    while (at < n) {
        const unsigned char *hit = memchr(a + at, needle[anchor], (size_t)(n - at));
        if (hit == NULL) break;
        Py_ssize_t start = (hit - a) - anchor;
        if (start + length <= n && memcmp(a + start, needle, (size_t)length) == 0)
            if (offsets_push(out, start) < 0) return -1;
        at = (hit - a) + 1;
    }
    return 0;
}

typedef struct {
    Py_ssize_t lines, longest;
    Offsets line_starts, record_starts, clfrx_starts, candidates, clfrx_hits, wsvr_hits;
    Letters record_types, clfrx_types;
    int64_t type_totals[26], clfrx_totals[26]; /* records and decided CLFRX ids by letter */
} Index;

static void index_free(Index *x) {
    free(x->line_starts.data);
    free(x->record_starts.data);
    free(x->clfrx_starts.data);
    free(x->candidates.data);
    free(x->clfrx_hits.data);
    free(x->wsvr_hits.data);
    free(x->record_types.data);
    free(x->clfrx_types.data);
}

/* The scan of a[0:n] (whole lines); offsets are relative. 0, or -1 when out of memory. */
static int scan(const unsigned char *a, Py_ssize_t n, int want_lines, Index *x) {
    if (find_all(a, n, "CLFRX", 4, &x->clfrx_hits) < 0) return -1;
    if (find_all(a, n, "WSVR00", 2, &x->wsvr_hits) < 0) return -1;
    Py_ssize_t next_clfrx = 0, next_wsvr = 0;
    Py_ssize_t s = 0;
    while (s < n) {
        const unsigned char *newline = memchr(a + s, '\n', (size_t)(n - s));
        if (newline == NULL) break; /* the last newline was checked: only a racing writer */
        Py_ssize_t e = newline - a;
        x->lines++;
        if (e - s > x->longest) x->longest = e - s;
        if (want_lines && offsets_push(&x->line_starts, s) < 0) return -1;
        Py_ssize_t close = a[s] == '[' ? record_close(a, s, e) : -1;
        Py_ssize_t message = s;
        unsigned char type = 0;
        if (close >= 0) {
            type = a[close + 25];
            message = close + HEADER_SPAN;
            if (offsets_push(&x->record_starts, s) < 0 || letters_push(&x->record_types, type) < 0)
                return -1;
            x->type_totals[type - 'A']++;
        }
        Py_ssize_t first = message;
        while (first < e && (CLASS[a[first]] & SKIP)) first++;
        int keyed = message_candidate(a, first, e);
        int candidate = keyed;
        int decided = 0;
        for (; next_clfrx < x->clfrx_hits.len && x->clfrx_hits.data[next_clfrx] < e; next_clfrx++) {
            Py_ssize_t h = x->clfrx_hits.data[next_clfrx];
            if (h < s) continue;
            if (type && !decided && clfrx_decided(a, h, message, first, type, keyed, e)) {
                decided = 1;
                if (offsets_push(&x->clfrx_starts, s) < 0 ||
                    letters_push(&x->clfrx_types, a[h + 9]) < 0)
                    return -1;
                x->clfrx_totals[a[h + 9] - 'A']++;
            }
            candidate = 1;
        }
        for (; next_wsvr < x->wsvr_hits.len && x->wsvr_hits.data[next_wsvr] < e; next_wsvr++)
            if (x->wsvr_hits.data[next_wsvr] >= s) candidate = 1;
        if (candidate && !decided && offsets_push(&x->candidates, s) < 0) return -1;
        s = e + 1;
    }
    return 0;
}

static PyObject *as_bytes(const void *data, Py_ssize_t count, Py_ssize_t size) {
    return PyBytes_FromStringAndSize(count ? (const char *)data : "", count * size);
}

static void shift(Offsets *v, int64_t by) {
    for (Py_ssize_t i = 0; i < v->len; i++) v->data[i] += by;
}

PyDoc_STRVAR(index_doc,
"index(data, begin, end, want_lines) -> (lines, longest, line_starts, record_starts,\n"
"record_types, clfrx_starts, clfrx_types, candidates, type_totals, clfrx_totals)\n\n"
"Index data[begin:end] (whole lines). Offsets are absolute, as bytes of native int64;\n"
"letters as bytes; totals by letter A-Z as 26 native int64. line_starts is empty unless\n"
"want_lines.");

static PyObject *index_lines(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t begin, end;
    int want_lines;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnp", &view, &begin, &end, &want_lines)) return NULL;
    if (begin < 0 || end < begin || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "index: begin/end outside the buffer");
        return NULL;
    }
    const unsigned char *a = (const unsigned char *)view.buf + begin;
    Py_ssize_t n = end - begin;
    if (n > 0 && a[n - 1] != '\n') {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "index_lines needs whole lines");
        return NULL;
    }
    Index x;
    memset(&x, 0, sizeof x);
    int status;
    if (view.readonly) {
        /* bytes cannot change: other threads may run meanwhile */
        Py_BEGIN_ALLOW_THREADS
        status = scan(a, n, want_lines, &x);
        Py_END_ALLOW_THREADS
    } else {
        /* a bytearray could be written by another thread: keep the GIL */
        status = scan(a, n, want_lines, &x);
    }
    PyBuffer_Release(&view);
    if (status < 0) {
        index_free(&x);
        return PyErr_NoMemory();
    }
    shift(&x.line_starts, begin);
    shift(&x.record_starts, begin);
    shift(&x.clfrx_starts, begin);
    shift(&x.candidates, begin);
    PyObject *result = Py_BuildValue(
        "nnNNNNNNNN", x.lines, x.longest,
        as_bytes(x.line_starts.data, x.line_starts.len, sizeof(int64_t)),
        as_bytes(x.record_starts.data, x.record_starts.len, sizeof(int64_t)),
        as_bytes(x.record_types.data, x.record_types.len, 1),
        as_bytes(x.clfrx_starts.data, x.clfrx_starts.len, sizeof(int64_t)),
        as_bytes(x.clfrx_types.data, x.clfrx_types.len, 1),
        as_bytes(x.candidates.data, x.candidates.len, sizeof(int64_t)),
        as_bytes(x.type_totals, 26, sizeof(int64_t)),
        as_bytes(x.clfrx_totals, 26, sizeof(int64_t)));
    index_free(&x);
    return result;
}

static PyMethodDef methods[] = {
    {"index", index_lines, METH_VARARGS, index_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lineindex",
    "The C kernel of stproxy_monitor.logs.lineindex (optional).", -1, methods,
};

PyMODINIT_FUNC PyInit__lineindex(void) {
    init_classes();
    return PyModule_Create(&module);
}
