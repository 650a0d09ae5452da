/* fuzz_csv: input fields (0x1f ends one, 0x1e ends a record; byte 0: writer flags) → writer →
 * strict reader fed in 2 chunks (cut at byte 1) must give them back: any fields make RFC 4180,
 * except that a field holding a NUL is refused (CF_EINVAL) and nothing else is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "calcifer/csv.h"

static const uint8_t *cur, *end; /* the input fields not yet written (or checked) */
static const uint8_t *next_field(size_t *len, int *last) /* *last: the field ends a record */
{
    const uint8_t *f = cur;
    while (cur < end && *cur != 0x1f && *cur != 0x1e)
        cur++;
    *len = (size_t)(cur - f);
    *last = cur == end || *cur++ == 0x1e;
    return f;
}

static int check(const cf_buf *fields, size_t n, void *guard)
{
    for (size_t i = 0, len, g; i < n; i++) {
        int last;
        const uint8_t *f = next_field(&len, &last);
        g = guard && len && memchr("=+-@\t\r", f[0], 6);
        if (fields[i].len != len + g || (g && fields[i].base[0] != '\'') ||
            memcmp(fields[i].base + g, f, len) != 0 || last != (i + 1 == n))
            abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    cf_csv_mem out = {0};
    cf_csv_writer w;
    cf_csv_reader r;
    int rc = cf_csv_writer_init(&w, data[0] & 7u, cf_csv_mem_write, &out);
    for (cur = data + 2, end = data + size; !rc && cur < end;) {
        size_t len;
        for (int last = 0; !rc && !last;) {
            const uint8_t *f = next_field(&len, &last);
            rc = cf_csv_write_field(&w, (const char *)f, len);
        }
        rc = rc ? rc : cf_csv_end_record(&w);
    }
    if ((rc == CF_EINVAL) != (memchr(data + 2, 0, size - 2) != NULL))
        abort(); /* a NUL is refused, and only a NUL */
    size_t cut = data[1] % (out.len + 1);
    cur = data + 2;
    cf_csv_reader_init(&r, check, (data[0] & CF_CSV_FORMULA_GUARD) ? &r : NULL);
    if (rc != CF_EINVAL &&
        (rc || cf_csv_reader_feed(&r, out.data, cut) ||
         cf_csv_reader_feed(&r, out.data + cut, out.len - cut) || cf_csv_reader_finish(&r) ||
         cur != end || cf_csv_reader_records(&r) != cf_csv_writer_records(&w)))
        abort();
    cf_csv_reader_reset(&r);
    cf_csv_mem_free(&out);
    return 0;
}
