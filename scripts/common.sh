# Shared by scripts/*.sh: where builds go, and the system packages they need.
# Source it; do not run it.

# Builds live outside the clone, so a fresh clone (CI's) reuses an earlier build
# of RocksDB's C++ instead of spending many minutes on it again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${HOME}/.cache/tracekeep/target}"
export DEBIAN_FRONTEND=noninteractive

say() { printf '[tracekeep] %s\n' "$*" >&2; }

have_libclang() {
    local candidate
    for candidate in "${LIBCLANG_PATH:-/nonexistent}"/libclang*.so* /usr/lib/llvm-*/lib/libclang.so* \
        /usr/lib/*/libclang.so* /usr/lib/*/libclang-[0-9]*.so*; do
        [ -e "$candidate" ] && return 0
    done
    return 1
}

apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        say "error: $* missing and there is no apt-get here; install them with your package manager"
        exit 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo="sudo -n"
        else
            say "error: $* missing; install them as root: apt-get install -y $*"
            exit 1
        fi
    fi
    say "installing missing system packages with apt: $*"
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq "$@" >/dev/null; }; then
        say "error: could not install $*; install them by hand: apt-get install -y $*"
        exit 1
    fi
}

# RocksDB's build needs a C++ compiler, and its bindgen needs libclang.
ensure_build_deps() {
    if ! command -v cargo >/dev/null 2>&1; then
        say "error: cargo not found; install the Rust toolchain (rustup) first"
        exit 1
    fi
    local missing=()
    have_libclang || missing+=(libclang-dev)
    command -v c++ >/dev/null 2>&1 || missing+=(g++)
    if [ ${#missing[@]} -gt 0 ]; then
        apt_install "${missing[@]}"
    fi
    if ! have_libclang; then
        say "error: libclang.so still not found after installing libclang-dev; set LIBCLANG_PATH"
        exit 1
    fi
}
