/* Process attributes the C library reaches only through variadic calls (prctl), which Swift
 * cannot import: fixed-argument wrappers. */
#include <sys/prctl.h>
#include <sys/resource.h>

static inline int lcm_set_dumpable(int dumpable) {
    return prctl(PR_SET_DUMPABLE, (unsigned long)dumpable, 0UL, 0UL, 0UL);
}

static inline int lcm_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0UL, 0UL, 0UL, 0UL);
}

static inline int lcm_set_core_limit_zero(void) {
    struct rlimit none = { 0, 0 };
    return setrlimit(RLIMIT_CORE, &none);
}

static inline int lcm_core_limit_is_zero(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) != 0) return 0;
    return limit.rlim_cur == 0 && limit.rlim_max == 0;
}
