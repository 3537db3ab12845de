# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages tlsid builds, tests and demos with; sourced by scripts/test and
# scripts/demo.

TLSID_PACKAGES=(
        gcc
        meson
        ninja-build
        pkg-config
        python3
        scdoc
        bash-completion
        libglib2.0-dev
        libdbus-1-dev
        libnss3-dev
        libnss3-tools
        libssl-dev      # libtlsid-openssl
        libcurl4-openssl-dev    # tlsid-curl and the libcurl helper
        libjson-glib-dev
        dbus-daemon
        check
        openssl
        nginx
        apache2
        gdb
        iproute2        # ip and tc: the handshake benchmark's 1 ms round-trip variant
        strace          # the syscalls benchmark's counts
        libgtk-4-dev    # tlsid-picker (-Dpicker=auto builds it when GTK 4 is found)
        xvfb            # the picker test's X server
        xdotool         # the picker test's keystrokes
        imagemagick     # the picker test's screenshots (import)
        at-spi2-core    # the picker test reads what a screen reader reads (at-spi-bus-launcher)
        fonts-dejavu-core       # a font for GTK under Xvfb
)
# What the sanitized run adds (scripts/test-sanitized): clang, whose sanitizer runtime
# writes every report to a file.
TLSID_SANITIZED_PACKAGES=(
        clang
)

# Installs the missing packages of TLSID_PACKAGES and of the arguments with apt-get when
# root; otherwise says which are missing.
ensure_packages() {
        local missing=()
        local p
        for p in "${TLSID_PACKAGES[@]}" "$@"; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
                        missing+=("$p")
        done
        [ ${#missing[@]} -eq 0 ] && return 0
        if [ "$(id -u)" -eq 0 ]; then
                echo "Installing: ${missing[*]}"
                apt-get update
                DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
        else
                echo "Missing packages: ${missing[*]}" >&2
                echo "Install them with: sudo apt-get install ${missing[*]}" >&2
                return 1
        fi
}
