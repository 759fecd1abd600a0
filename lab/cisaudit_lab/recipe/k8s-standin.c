/* A stand-in for a Kubernetes component on a cisaudit lab host.
 *
 * No Kubernetes binary can be installed on the machines the lab runs on, yet node
 * controls must be tested against a real process table. This program is installed
 * under each component's name (kube-apiserver, kubelet, etcd, ...): started with the
 * flags under test, it keeps its command line and environment exactly as given and
 * sleeps until killed; asked for `--version`, it answers the way the real binary does.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define KUBERNETES_VERSION "v1.33.2"
#define ETCD_VERSION "3.5.21"

int main(int argc, char **argv) {
    const char *slash = strrchr(argv[0], '/');
    const char *name = slash ? slash + 1 : argv[0];

    if (argc == 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-version") == 0)) {
        if (strcmp(name, "etcd") == 0) {
            printf("etcd Version: %s\nGit SHA: cisaudit-lab\nGo Version: go1.23.9\n"
                   "Go OS/Arch: linux/amd64\n", ETCD_VERSION);
        } else {
            printf("Kubernetes %s\n", KUBERNETES_VERSION);
        }
        return 0;
    }
    for (;;) {
        pause(); /* the default action of SIGTERM/SIGKILL ends the process */
    }
}
