#ifndef LCM_CLIBVIRT_SHIM_H
#define LCM_CLIBVIRT_SHIM_H

#include <stddef.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

/* Swallows every error report. libvirt's default handler prints to stderr;
 * the Swift wrapper reads the error with virGetLastError instead. */
static void lcm_virt_silent_error(void *user_data, virErrorPtr error)
    __attribute__((unused));
static void lcm_virt_silent_error(void *user_data, virErrorPtr error) {
    (void)user_data;
    (void)error;
}

/* Installs lcm_virt_silent_error as the process-wide handler. */
static inline void lcm_virt_install_silent_error_handler(void) {
    virSetErrorFunc(NULL, lcm_virt_silent_error);
}

/* virConnectAuthPtrDefault is a mutable C global, which Swift 6 rejects. */
static inline virConnectAuthPtr lcm_virt_default_auth(void) {
    return virConnectAuthPtrDefault;
}

/* Buffer size for virXxxGetUUIDString, re-exported as a constant. */
static const int LCM_VIR_UUID_STRING_BUFLEN = VIR_UUID_STRING_BUFLEN;

#endif
