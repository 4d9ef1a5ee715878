/* The monotonic clock in the units c360 measures waits and deadlines in.
 * Header-only: each is one clock_gettime call. Thread-safe. */
#ifndef C360_CORE_CLOCK_H
#define C360_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC (not wall time: immune to clock steps). */
static inline int64_t c360_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Microseconds on CLOCK_MONOTONIC. */
static inline int64_t c360_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
