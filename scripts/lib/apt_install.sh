# Sourced by the scripts/*_up.sh set-up scripts: installs one Debian package, refreshing the
# package list (`apt-get update`) only when the install fails without it. The caller defines
# say, fail and as_root.
#
#   apt_install PACKAGE "what to do without apt-get"
apt_install() {
    local package="$1" log="/tmp/apt-install-$1.log"
    command -v apt-get >/dev/null 2>&1 || fail "$2"
    say "installing the Debian package '$package' (apt-get install -y $package)"
    if ! as_root apt-get install -y -q "$package" >"$log" 2>&1; then
        say "install failed without a package list refresh; running apt-get update and retrying"
        as_root apt-get update -q >>"$log" 2>&1 || fail "apt-get update failed (see $log)"
        as_root apt-get install -y -q "$package" >>"$log" 2>&1 \
            || fail "apt-get install $package failed (see $log)"
    fi
}
