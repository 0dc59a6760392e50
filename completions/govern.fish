# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_govern_global_optspecs
    string join \n color= h/help V/version
end

function __fish_govern_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_govern_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_govern_using_subcommand
    set -l cmd (__fish_govern_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c govern -n "__fish_govern_needs_command" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_needs_command" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_needs_command" -f -a "lint" -d 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more'
complete -c govern -n "__fish_govern_needs_command" -f -a "fmt" -d 'Rewrite policy files in the one canonical layout'
complete -c govern -n "__fish_govern_needs_command" -f -a "explain" -d 'Print the documentation of a lint'
complete -c govern -n "__fish_govern_needs_command" -f -a "test" -d 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites'
complete -c govern -n "__fish_govern_needs_command" -f -a "build" -d 'Compile policies into a verified bytecode bundle (.govb)'
complete -c govern -n "__fish_govern_needs_command" -f -a "eval" -d 'Decide events with a bundle or with policies compiled on the fly'
complete -c govern -n "__fish_govern_needs_command" -f -a "replay-audit" -d 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again'
complete -c govern -n "__fish_govern_needs_command" -f -a "simulate" -d 'Replay recorded traffic through a policy: what it decides, and what changes'
complete -c govern -n "__fish_govern_needs_command" -f -a "serve" -d 'Run a decision point over HTTP: agents ask it before they act'
complete -c govern -n "__fish_govern_needs_command" -f -a "diff" -d 'Every request whose decision a policy change flips, proved on the decision diagrams'
complete -c govern -n "__fish_govern_needs_command" -f -a "chaos-run" -d 'Mutate recorded events the way an attacker would respell them and hunt the bypasses'
complete -c govern -n "__fish_govern_needs_command" -f -a "keygen" -d 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)'
complete -c govern -n "__fish_govern_needs_command" -f -a "sign" -d 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)'
complete -c govern -n "__fish_govern_needs_command" -f -a "verify" -d 'Verify a signed plugin, bundle or files against a trust file'
complete -c govern -n "__fish_govern_needs_command" -f -a "keyid" -d 'Print the id of a public (or private) key'
complete -c govern -n "__fish_govern_needs_command" -f -a "mcp-import" -d 'Turn an MCP server\'s tool list into `tool` declarations (and a deny-by-default policy)'
complete -c govern -n "__fish_govern_needs_command" -f -a "mcp-proxy" -d 'Stand between an MCP client and server: decide every tool call before the server sees it'
complete -c govern -n "__fish_govern_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c govern -n "__fish_govern_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c govern -n "__fish_govern_using_subcommand lint" -l format -d 'How to print the findings' -r -f -a "human\t'Source snippets with labels, help and example requests, for people'
json\t'One JSON object per finding, one per line'
sarif\t'A SARIF 2.1.0 log, for code-scanning tools'
github\t'GitHub Actions workflow commands (`::error file=…::…`), shown as annotations'"
complete -c govern -n "__fish_govern_using_subcommand lint" -l fail-level -d 'Exit with status 1 when a finding has this level or a higher one [default: the `fail-level` of govern.toml, else error]' -r -f -a "error\t''
warn\t''
info\t''"
complete -c govern -n "__fish_govern_using_subcommand lint" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand lint" -l watch -d 'Lint again whenever a .gov file under the paths (or govern.toml) changes'
complete -c govern -n "__fish_govern_using_subcommand lint" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand lint" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand fmt" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand fmt" -l check -d 'Change nothing: name the files that are not formatted and exit 1 if there are any'
complete -c govern -n "__fish_govern_using_subcommand fmt" -l watch -d 'With --check: check again whenever a .gov file under the paths changes'
complete -c govern -n "__fish_govern_using_subcommand fmt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand fmt" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand explain" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand explain" -l all -d 'List every lint (with --markdown: the whole reference, `docs/lints.md`)'
complete -c govern -n "__fish_govern_using_subcommand explain" -l markdown -d 'Print Markdown, as in docs/lints.md'
complete -c govern -n "__fish_govern_using_subcommand explain" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand explain" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand test" -l filter -d 'Only run cases whose name contains this text (matrix cases are named `name [path=value, …]`)' -r
complete -c govern -n "__fish_govern_using_subcommand test" -l format -d 'How to print the results' -r -f -a "human\t'A line per suite, failures side by side, a closing `result:` line'
json\t'One JSON document with every case, failure and error'
junit\t'JUnit XML, for CI test reporters'"
complete -c govern -n "__fish_govern_using_subcommand test" -l min-coverage -d 'Fail (exit 1) when rule coverage is below P percent (0-100)' -r
complete -c govern -n "__fish_govern_using_subcommand test" -l min-blocked -d 'Red-team corpora (cases of `kind: attack`): count an attack that is allowed instead of failing on it, and fail (exit 1) when fewer than P percent of any variant\'s attacks are blocked. Benign cases that are not allowed still fail' -r
complete -c govern -n "__fish_govern_using_subcommand test" -l record -d 'Record the decisions of a trace as a golden suite; repeat for several traces. Read as `simulate` and `eval` read traces: JSONL, JSON objects over several lines, OTLP/JSON spans, MCP messages or an audit log, gzipped or not. Needs --policy and -o' -r -F
complete -c govern -n "__fish_govern_using_subcommand test" -l input-format -d 'The format of the --record traces (gzip is recognised by its bytes)' -r -f -a "auto\t'Detect per input from its first record'
jsonl\t'One event object per line'
otel\t'OpenTelemetry GenAI spans exported as OTLP/JSON'
mcp\t'MCP JSON-RPC messages (tools/call requests and their results)'
audit\t'An audit log: the events as decided, compared with the decisions recorded'"
complete -c govern -n "__fish_govern_using_subcommand test" -s o -l output -d 'Where --record writes the suite (atomically)' -r -F
complete -c govern -n "__fish_govern_using_subcommand test" -l policy -d 'The policies --record decides with (files or directories; repeat for several)' -r -F
complete -c govern -n "__fish_govern_using_subcommand test" -l trust -d 'Refuse any suite whose bundle is not a `.govb` with a signature (`BUNDLE.sig.json`) that verifies against this trust file (see `govern verify`)' -r -F
complete -c govern -n "__fish_govern_using_subcommand test" -l state -d 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded' -r -F
complete -c govern -n "__fish_govern_using_subcommand test" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand test" -l coverage -d 'Print rule and leaf coverage per bundle, with the rules that never decided'
complete -c govern -n "__fish_govern_using_subcommand test" -l watch -d 'Re-run the affected suites whenever a .gov or suite file under the paths (or their bundles) changes'
complete -c govern -n "__fish_govern_using_subcommand test" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand test" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand build" -s o -l output -d 'Where to write the bundle (written atomically)' -r -F
complete -c govern -n "__fish_govern_using_subcommand build" -l store -d 'Also keep the bundle in this folder as `<digest hex>.govb`, where `govern replay-audit --bundles DIR` finds it by the digest an audit log names' -r -F
complete -c govern -n "__fish_govern_using_subcommand build" -l format -d 'How to print errors in the policies' -r -f -a "human\t'Source snippets with labels and help, for people'
json\t'One JSON object per diagnostic, one per line, for machines'"
complete -c govern -n "__fish_govern_using_subcommand build" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand build" -l listing -d 'Also print a readable disassembly of the bundle'
complete -c govern -n "__fish_govern_using_subcommand build" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand build" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand eval" -l bundle -d 'A compiled bundle to evaluate with' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l policy -d 'Policy files or directories to compile and evaluate with (repeat for several)' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l trust -d 'Refuse the bundle unless its signature verifies against this trust file (see `govern verify`); checked before any event is read' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l signature -d 'The bundle\'s signature file, with --trust (default: BUNDLE.sig.json)' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l state -d 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l max-keys -d 'The most keys each count, sum or seen holds in the stream state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed' -r
complete -c govern -n "__fish_govern_using_subcommand eval" -l input-format -d 'The format of the events, as `simulate` reads traces (gzip is recognised by its bytes)' -r -f -a "auto\t'Detect per input from its first record'
jsonl\t'One event object per line'
otel\t'OpenTelemetry GenAI spans exported as OTLP/JSON'
mcp\t'MCP JSON-RPC messages (tools/call requests and their results)'
audit\t'An audit log: the events as decided, compared with the decisions recorded'"
complete -c govern -n "__fish_govern_using_subcommand eval" -l clock -d 'Where an event\'s time comes from: its own `ts` (`event`), or this machine\'s clock, written into `ts` before deciding (`host`, as a live decision point keeps time)' -r -f -a "event\t'The event\'s own `ts`'
host\t'The host\'s clock, written into the event\'s `ts` (replacing any it had)'"
complete -c govern -n "__fish_govern_using_subcommand eval" -l audit-log -d 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l audit-sync -d 'When records reach the disk. A crash of govern loses no record in any mode' -r -f -a "always\t'After every record: a power failure loses nothing that was decided'
batch\t'Within 100 ms: a power failure loses at most the last 100 ms of records'
none\t'When the system writes back: a power failure loses what it had not written'"
complete -c govern -n "__fish_govern_using_subcommand eval" -l audit-key -d 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end' -r -F
complete -c govern -n "__fish_govern_using_subcommand eval" -l checkpoint-every -d 'Records between signed checkpoints [default: 1000]' -r
complete -c govern -n "__fish_govern_using_subcommand eval" -l audit-rotate -d 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …' -r
complete -c govern -n "__fish_govern_using_subcommand eval" -l restore-max -d 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]' -r
complete -c govern -n "__fish_govern_using_subcommand eval" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand eval" -l explain -d 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes'
complete -c govern -n "__fish_govern_using_subcommand eval" -l exit-code -d 'Make the exit status tell allow (0), deny (1) and escalate (3) apart'
complete -c govern -n "__fish_govern_using_subcommand eval" -l fresh-state -d 'Start with fresh stream state even when the log\'s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log\'s records since that record; the bundle record it writes says which (docs/audit.md)'
complete -c govern -n "__fish_govern_using_subcommand eval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand eval" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l bundle -d 'The bundle the log\'s decisions were taken with' -r -F
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l bundles -d 'A folder of bundles, found by digest (`govern build --store DIR` fills one)' -r -F
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l key -d 'Public keys checkpoints may be signed with (SPKI PEM); repeat for several' -r -F
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l trust -d 'A trust file (see docs/signing.md) whose keys may sign checkpoints' -r -F
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l expect-head -d 'The hash of a record kept elsewhere (a head reported by the decision point): the log must hold it, which vouches for every record up to it' -r
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l expect-count -d 'The number of records the log must hold at least (with --expect-head: the head is record N-1)' -r
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l against -d 'Also decide every event with this bundle (or policies) and report what flips' -r -F
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l format -d 'How to report' -r -f -a "human\t'A report for people'
json\t'One JSON document'"
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -l no-replay -d 'Check the chain and the checkpoints only: decide nothing again'
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand replay-audit" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand simulate" -l policy -d 'Policy files or directories to compile and simulate (repeat for several)' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l bundle -d 'A compiled bundle to simulate' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l baseline -d 'Baseline policy files or directories (the policy in production) to compare with' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l baseline-bundle -d 'A compiled baseline bundle to compare with' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l mcp-pair -d 'Two one-direction MCP logs of one connection, read as one trace: CLIENT holds the messages the client sent, SERVER those the server sent; merged by their timestamps, or in causal order without them (repeat for several connections)' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l input-format -d 'The format of the traces' -r -f -a "auto\t'Detect per input from its first record'
jsonl\t'One event object per line'
otel\t'OpenTelemetry GenAI spans exported as OTLP/JSON'
mcp\t'MCP JSON-RPC messages (tools/call requests and their results)'
audit\t'An audit log: the events as decided, compared with the decisions recorded'"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l format -d 'What to print' -r -f -a "text\t'The report for people: tables on a terminal, aligned plain text otherwise'
json\t'The report as one JSON document'
jsonl\t'One decision per event (JSON lines) with its source file and line; no report'"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l fail-on -d 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l max-errors -d 'Skip up to N bad records (counted in the report) instead of stopping at the first' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l dump-events -d 'Write every decided event, as read from the traces (OTLP spans and MCP messages turned into events), to FILE: one JSON object per line, in decision order (line N is the event of the N-th `--format jsonl` decision). Written atomically' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -s j -l jobs -d 'Threads that parse events (default: the number of cores). Output does not depend on it' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l trust -d 'Refuse the bundles (--bundle and --baseline-bundle) unless their signatures (`BUNDLE.sig.json`) verify against this trust file; policy sources cannot be trusted' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l state -d 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l max-keys -d 'The most keys each count, sum or seen holds in a stream\'s state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed, and the report says how many records were refused' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l no-progress -d 'Never show the progress bar (it shows only when standard error is a terminal)'
complete -c govern -n "__fish_govern_using_subcommand simulate" -l stats -d 'Print run statistics on standard error: time, events per second, peak memory, stream state size'
complete -c govern -n "__fish_govern_using_subcommand simulate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand serve" -l bundle -d 'The compiled bundle to decide with (read again on reload)' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l trust -d 'Refuse any bundle, at start and on reload, whose signature does not verify against this trust file (see `govern verify`)' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l signature -d 'The bundle\'s signature file, with --trust (default: BUNDLE.sig.json)' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l listen -d 'Where to listen: `host:port` or `unix:/path/to.sock` (repeat for several)' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l max-keys -d 'The most keys each count, sum or seen holds in the stream state. Beyond it, new keys are unknown: rules on them fail closed' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l audit-log -d 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l audit-sync -d 'When records reach the disk. A crash of govern loses no record in any mode' -r -f -a "always\t'After every record: a power failure loses nothing that was decided'
batch\t'Within 100 ms: a power failure loses at most the last 100 ms of records'
none\t'When the system writes back: a power failure loses what it had not written'"
complete -c govern -n "__fish_govern_using_subcommand serve" -l audit-key -d 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l checkpoint-every -d 'Records between signed checkpoints [default: 1000]' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l audit-rotate -d 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l restore-max -d 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l state -d 'With --trust: the state file of last-seen versions (as `govern verify --state`), checked at start and at every reload: a bundle older than the last version of its name loaded is refused (and the one in force stays), a newer one recorded' -r -F
complete -c govern -n "__fish_govern_using_subcommand serve" -l log-format -d 'How log lines are written on standard error' -r -f -a "human\t'One line per event for people: time, level, event, message, fields'
json\t'One JSON object per line'"
complete -c govern -n "__fish_govern_using_subcommand serve" -l threads -d 'Worker threads [default: one per core]' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l decision-timeout -d 'How long a decision may take once its request is read, waiting for the disk with --audit-sync always, before it is denied, in milliseconds' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l request-timeout -d 'How long a client may take to send a request\'s headers, and then its body, in seconds (a slower one gets `408` and a deny)' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l idle-timeout -d 'Close a connection that has moved no byte for this long, in seconds' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l drain-timeout -d 'How long SIGTERM waits for the requests in flight, in seconds' -r
complete -c govern -n "__fish_govern_using_subcommand serve" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand serve" -l fresh-state -d 'Start with fresh stream state even when the log\'s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log\'s records since that record; the bundle record it writes says which (docs/audit.md)'
complete -c govern -n "__fish_govern_using_subcommand serve" -l audit-required -d 'Deny every decision whose audit record cannot be written, and every later one (default: keep deciding without records, count the errors and log them)'
complete -c govern -n "__fish_govern_using_subcommand serve" -l no-watch -d 'Reload on SIGHUP only, not when the bundle files change'
complete -c govern -n "__fish_govern_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand serve" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand diff" -l git -d 'Compare PATHS at this git revision (the old side) with the working tree, or two revisions with `A..B`' -r
complete -c govern -n "__fish_govern_using_subcommand diff" -l format -d 'How to print the result' -r -f -a "human\t'Grouped by change, with the rules\' source lines on both sides, for people'
json\t'One JSON document'
github\t'GitHub Actions workflow commands, shown as annotations on the rules'
sarif\t'A SARIF 2.1.0 log, for code-scanning tools'
markdown\t'Markdown, for a pull-request comment'"
complete -c govern -n "__fish_govern_using_subcommand diff" -l fail-on -d 'CI gates: `new-allow` (a request may now be allowed that was not), `any-change`; repeat or separate with commas. A failed gate makes the exit status 1' -r -f -a "new-allow\t'Fail when a request may be allowed that the old version did not allow'
any-change\t'Fail when any decision may change'"
complete -c govern -n "__fish_govern_using_subcommand diff" -l max-nodes -d 'The most diagram nodes one stage of the comparison may make; past it, the report says what was not proved' -r
complete -c govern -n "__fish_govern_using_subcommand diff" -l max-regions -d 'Regions listed, each with a witness, per group; the others are counted' -r
complete -c govern -n "__fish_govern_using_subcommand diff" -l jobs -d 'Threads comparing a large change, tool by tool, and finding its witnesses [default: one per core]. The report does not depend on it' -r
complete -c govern -n "__fish_govern_using_subcommand diff" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand diff" -l all -d 'Also report, where the verdict stays the same, changes in the determining rules, their messages and warnings'
complete -c govern -n "__fish_govern_using_subcommand diff" -l equivalent -d 'Prove that both versions decide every request identically (verdict, determining rules, messages, warnings): exit 0 only then'
complete -c govern -n "__fish_govern_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand diff" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l format -r -f -a "human\t'Coverage, each finding with its smallest example, the SLOs, a closing line'
json\t'One JSON document with a `findings` list (see docs/chaos.md)'
junit\t'JUnit XML: a case per fault family, a failure per finding'"
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l jobs -d 'Threads deciding mutants [default: one per core]. The findings do not depend on it' -r
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l seed -d 'Override the experiment\'s seed' -r
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l mutants -d 'Override the experiment\'s mutant budget' -r
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l time -d 'Override the experiment\'s time budget (`30s`, `5m`)' -r
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l diagnostics -d 'How errors (bad experiments, policies, traces) are printed' -r -f -a "human\t'Source snippets with labels and help, for people'
json\t'One JSON object per diagnostic, one per line, for machines'"
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -l no-progress -d 'No progress bar on a terminal'
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand chaos-run" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand keygen" -s o -l output -d 'The path and name of the key files, without extension' -r -F
complete -c govern -n "__fish_govern_using_subcommand keygen" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand keygen" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand sign" -l key -d 'The private key (PKCS#8 PEM, from `govern keygen` or `openssl genpkey`)' -r -F
complete -c govern -n "__fish_govern_using_subcommand sign" -l out -d 'Where to write the envelope (default: TARGET.sig.json beside the target)' -r -F
complete -c govern -n "__fish_govern_using_subcommand sign" -l expires -d 'When the signature stops being accepted: an RFC 3339 time or a duration after creation (`90d`, `12h`, `1y`, `1d12h`)' -r
complete -c govern -n "__fish_govern_using_subcommand sign" -l name -d 'The name in the manifest (default: from agent-plugin.yaml, else the file name)' -r
complete -c govern -n "__fish_govern_using_subcommand sign" -l version -d 'The version in the manifest (from agent-plugin.yaml for plugins; required otherwise)' -r
complete -c govern -n "__fish_govern_using_subcommand sign" -l created -d 'The creation time to record (RFC 3339; default now), for reproducible envelopes' -r
complete -c govern -n "__fish_govern_using_subcommand sign" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand sign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand verify" -l trust -d 'The trust file: accepted keys, revocations and threshold' -r -F
complete -c govern -n "__fish_govern_using_subcommand verify" -l signature -d 'The envelope (default: TARGET.sig.json beside the target)' -r -F
complete -c govern -n "__fish_govern_using_subcommand verify" -l state -d 'Last-seen versions: refuse rollbacks and record newer versions' -r -F
complete -c govern -n "__fish_govern_using_subcommand verify" -l format -d 'How to report' -r -f -a "human\t'A summary line on success; each failed check on standard error'
json\t'One JSON report on standard output, success or not'"
complete -c govern -n "__fish_govern_using_subcommand verify" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand verify" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand keyid" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand keyid" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand keyid" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l name -d 'The name of the skeleton\'s policy (default: the server\'s name, else the file\'s)' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -s o -l output -d 'Write the policy text to FILE (atomically) instead of standard output' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l format -d 'What to print on standard output' -r -f -a "text\t'The policy text (declarations, or the skeleton with --skeleton)'
json\t'One JSON document: the tools, their argument types, what was left out, and the text'"
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l timeout -d 'Seconds to wait for each answer of the server (--from-server)' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l from-server -d 'Ask the MCP server started by the command after `--` (over stdio)'
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -l skeleton -d 'Write a deny-by-default policy file listing every tool, not only the declarations'
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand mcp-import" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l bundle -d 'A compiled bundle to decide with' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l policy -d 'A policy file or directory, compiled at start' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l trust -d 'Refuse a bundle whose signature does not verify against this trust file' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l signature -d 'The bundle\'s signature file, with --trust (default: BUNDLE.sig.json)' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l agent -d 'The agent id of every event, over the name the client declares' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l session -d 'The session of every event [default: `mcp-` and the process id and start time]' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l deny-with -d 'How a denied call is answered' -r -f -a "tool-error\t'A tool result with isError and the `because` text: the agent\'s model reads why'
rpc-error\t'A JSON-RPC error (code -32001) with the decision in `data`'"
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l max-keys -d 'The most keys each count, sum or seen holds in the stream state' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l audit-log -d 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l audit-sync -d 'When records reach the disk. A crash of govern loses no record in any mode' -r -f -a "always\t'After every record: a power failure loses nothing that was decided'
batch\t'Within 100 ms: a power failure loses at most the last 100 ms of records'
none\t'When the system writes back: a power failure loses what it had not written'"
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l audit-key -d 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l checkpoint-every -d 'Records between signed checkpoints [default: 1000]' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l audit-rotate -d 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l restore-max -d 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l log-format -d 'How log lines are written on standard error' -r -f -a "human\t'One line per event for people: time, level, event, message, fields'
json\t'One JSON object per line'"
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l upstream -d 'Stand in front of this Streamable HTTP MCP server (`http://host:port/path` or `https://…`) instead of starting one: clients connect to --listen' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l listen -d 'Where the HTTP gateway listens, with --upstream (port 0: any free port, logged)' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l upstream-timeout -d 'Seconds the --upstream server has to accept a connection (with the TLS handshake) and to start answering' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l upstream-ca -d 'Trust only the certificates of this PEM file (a private CA) for an https:// --upstream [default: the system\'s roots]' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l request-timeout -d 'How long a client may take to send a request\'s headers, and then its body, in seconds (a slower one is answered `408` or disconnected)' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l idle-timeout -d 'Close a client connection that has moved no byte for this long with no request in flight, or whose reader has taken no byte for this long, in seconds' -r
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l trace -d 'Append every message the client sends and receives to FILE, one envelope per line (`ts`, `session`, `direction`, `message`: the MCP trace form `simulate` reads)' -r -F
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l hide-denied -d 'Remove from tools/list results the tools the policy denies whatever the arguments'
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l fresh-state -d 'Start with fresh stream state even when the log\'s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log\'s records since that record; the bundle record it writes says which (docs/audit.md)'
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -l audit-required -d 'Deny every call whose audit record cannot be written, and every later one (default: keep deciding without records, and log the error)'
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand mcp-proxy" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand completions" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand completions" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "lint" -d 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "fmt" -d 'Rewrite policy files in the one canonical layout'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "explain" -d 'Print the documentation of a lint'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "test" -d 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "build" -d 'Compile policies into a verified bytecode bundle (.govb)'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "eval" -d 'Decide events with a bundle or with policies compiled on the fly'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "replay-audit" -d 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "simulate" -d 'Replay recorded traffic through a policy: what it decides, and what changes'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "serve" -d 'Run a decision point over HTTP: agents ask it before they act'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "diff" -d 'Every request whose decision a policy change flips, proved on the decision diagrams'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "chaos-run" -d 'Mutate recorded events the way an attacker would respell them and hunt the bypasses'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "keygen" -d 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "sign" -d 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "verify" -d 'Verify a signed plugin, bundle or files against a trust file'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "keyid" -d 'Print the id of a public (or private) key'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "mcp-import" -d 'Turn an MCP server\'s tool list into `tool` declarations (and a deny-by-default policy)'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "mcp-proxy" -d 'Stand between an MCP client and server: decide every tool call before the server sees it'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from lint fmt explain test build eval replay-audit simulate serve diff chaos-run keygen sign verify keyid mcp-import mcp-proxy completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
