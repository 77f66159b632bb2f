# What `authwatch profile install` adds to the file your login shell reads (bash: the first of
# ~/.bash_profile, ~/.bash_login and ~/.profile that exists, else a new ~/.profile; zsh:
# ~/.zprofile; sh, dash, ksh: ~/.profile), here for authwatch installed with /usr/bin/python3;
# the command writes the absolute path of the Python that runs it.
# Prefer the command (it is idempotent, keeps a backup, and notes the logins already in
# ~/.ssh_logins so they never alert); README.md, "No root: the profile hook", says more.
#
# And in your crontab (crontab -e), the safety net:
#   * * * * * /usr/bin/python3 -m authwatch scan --user

# >>> authwatch: SSH login alerts (authwatch profile install) >>>
# Once per SSH login: append "DATE IP USER METHOD port=PORT [key=TYPE:KEY]" to
# ~/.ssh_logins, then let authwatch look at it in the background. A tmux or screen
# window opened after re-attaching carries a connection already recorded: skipped.
if [ -n "${SSH_CONNECTION:-}" ] && [ "${AUTHWATCH_SEEN:-}" != "$SSH_CONNECTION" ]; then
    AUTHWATCH_SEEN=$SSH_CONNECTION; export AUTHWATCH_SEEN
    _aw_ip=${SSH_CONNECTION%% *} _aw_port=${SSH_CONNECTION#* }
    _aw_port=${_aw_port%% *}
    if ! tail -n 64 "$HOME/.ssh_logins" 2>/dev/null |
            awk -v c="$_aw_ip port=$_aw_port" '$4 " " $7 == c { f = 1 } END { exit !f }'; then
        _aw_how= _aw_key=
        if [ -n "${SSH_USER_AUTH:-}" ] && [ -r "$SSH_USER_AUTH" ]; then
            while read -r _aw_m _aw_t _aw_k _aw_x; do
                _aw_how=${_aw_how:+$_aw_how+}$_aw_m
                [ -n "$_aw_key" ] || [ "$_aw_m" != publickey ] || _aw_key=" key=$_aw_t:$_aw_k"
            done < "$SSH_USER_AUTH"
        fi
        [ -e "$HOME/.ssh_logins" ] || (umask 077; : >> "$HOME/.ssh_logins")
        printf '%s %s %s %s port=%s%s\n' "$(date '+%Y-%m-%d %H:%M:%S %z')" "$_aw_ip" \
            "${USER:-$LOGNAME}" "${_aw_how:-unknown}" "$_aw_port" "$_aw_key" >> "$HOME/.ssh_logins"
        (trap '' HUP; exec /usr/bin/python3 -m authwatch scan --user </dev/null >/dev/null 2>&1 &)
    fi
    unset _aw_ip _aw_port _aw_how _aw_key _aw_m _aw_t _aw_k _aw_x
fi
# <<< authwatch <<<
