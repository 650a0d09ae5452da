/* fuzz_csv_json: a JSON document (the input after byte 0) goes to CSV twice, streamed by
 * cf_csv_json in two chunks (cut where byte 0 says) and whole through the DOM with
 * cf_csv_write_json_record: both must fail, or both give the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "calcifer/csv.h"

static const char *const cols[] = {"a", "b.c", "[0]", "", "a[1]", "[\"x.y\"]", "b", "b[0].a"};
#define NCOLS (sizeof cols / sizeof cols[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    size_t cut = data[0] % (len + 1);
    cf_csv_mem dom = {0}, streamed = {0};
    cf_csv_writer w;
    cf_json *doc = NULL;
    int rc1 = cf_json_parse(json, len, NULL, &doc, NULL);
    if (!rc1 && cf_json_type_of(doc) != CF_JSON_ARRAY)
        rc1 = CF_EPARSE;
    if (!rc1 && cf_csv_writer_init(&w, CF_CSV_FORMULA_GUARD, cf_csv_mem_write, &dom))
        abort();
    for (size_t i = 0; !rc1 && i < cf_json_size(doc); i++)
        rc1 = cf_csv_write_json_record(&w, cf_json_at(doc, i), cols, NCOLS);
    cf_json_free(doc);
    cf_csv_json *c = NULL;
    if (cf_csv_writer_init(&w, CF_CSV_FORMULA_GUARD, cf_csv_mem_write, &streamed) ||
        cf_csv_json_new(&c, &w, NULL, cols, NCOLS, 0, NULL))
        abort();
    int rc2 = cf_csv_json_feed(c, json, cut);
    if (rc2 >= 0)
        rc2 = cf_csv_json_feed(c, json + cut, len - cut);
    if (rc2 >= 0)
        rc2 = cf_csv_json_finish(c);
    if (!rc1 != !rc2 || (!rc1 && (dom.len != streamed.len ||
                                  (dom.len && memcmp(dom.data, streamed.data, dom.len)))))
        abort();
    cf_csv_json_free(c);
    cf_csv_mem_free(&dom);
    cf_csv_mem_free(&streamed);
    return 0;
}
