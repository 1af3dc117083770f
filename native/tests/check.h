/* The C tests' one assertion: count the failure, say where, go on. */
#ifndef CTR_TEST_CHECK_H
#define CTR_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define EXPECT(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);                          \
      failures++;                                                                                  \
    }                                                                                              \
  } while (0)

/* main's last line: a summary and the exit status ctest reads. */
static inline int test_result(void)
{
  if (failures)
    fprintf(stderr, "%d failure(s)\n", failures);
  return failures != 0;
}

#endif
