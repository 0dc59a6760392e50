
use builtin;
use str;

set edit:completion:arg-completer[govern] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'govern'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'govern'= {
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand lint 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more'
            cand fmt 'Rewrite policy files in the one canonical layout'
            cand explain 'Print the documentation of a lint'
            cand test 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites'
            cand build 'Compile policies into a verified bytecode bundle (.govb)'
            cand eval 'Decide events with a bundle or with policies compiled on the fly'
            cand replay-audit 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again'
            cand simulate 'Replay recorded traffic through a policy: what it decides, and what changes'
            cand serve 'Run a decision point over HTTP: agents ask it before they act'
            cand diff 'Every request whose decision a policy change flips, proved on the decision diagrams'
            cand chaos-run 'Mutate recorded events the way an attacker would respell them and hunt the bypasses'
            cand keygen 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)'
            cand sign 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)'
            cand verify 'Verify a signed plugin, bundle or files against a trust file'
            cand keyid 'Print the id of a public (or private) key'
            cand mcp-import 'Turn an MCP server''s tool list into `tool` declarations (and a deny-by-default policy)'
            cand mcp-proxy 'Stand between an MCP client and server: decide every tool call before the server sees it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'govern;lint'= {
            cand --format 'How to print the findings'
            cand --fail-level 'Exit with status 1 when a finding has this level or a higher one [default: the `fail-level` of govern.toml, else error]'
            cand --color 'When to use colours in messages'
            cand --watch 'Lint again whenever a .gov file under the paths (or govern.toml) changes'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;fmt'= {
            cand --color 'When to use colours in messages'
            cand --check 'Change nothing: name the files that are not formatted and exit 1 if there are any'
            cand --watch 'With --check: check again whenever a .gov file under the paths changes'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;explain'= {
            cand --color 'When to use colours in messages'
            cand --all 'List every lint (with --markdown: the whole reference, `docs/lints.md`)'
            cand --markdown 'Print Markdown, as in docs/lints.md'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;test'= {
            cand --filter 'Only run cases whose name contains this text (matrix cases are named `name [path=value, …]`)'
            cand --format 'How to print the results'
            cand --min-coverage 'Fail (exit 1) when rule coverage is below P percent (0-100)'
            cand --min-blocked 'Red-team corpora (cases of `kind: attack`): count an attack that is allowed instead of failing on it, and fail (exit 1) when fewer than P percent of any variant''s attacks are blocked. Benign cases that are not allowed still fail'
            cand --record 'Record the decisions of a trace as a golden suite; repeat for several traces. Read as `simulate` and `eval` read traces: JSONL, JSON objects over several lines, OTLP/JSON spans, MCP messages or an audit log, gzipped or not. Needs --policy and -o'
            cand --input-format 'The format of the --record traces (gzip is recognised by its bytes)'
            cand -o 'Where --record writes the suite (atomically)'
            cand --output 'Where --record writes the suite (atomically)'
            cand --policy 'The policies --record decides with (files or directories; repeat for several)'
            cand --trust 'Refuse any suite whose bundle is not a `.govb` with a signature (`BUNDLE.sig.json`) that verifies against this trust file (see `govern verify`)'
            cand --state 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded'
            cand --color 'When to use colours in messages'
            cand --coverage 'Print rule and leaf coverage per bundle, with the rules that never decided'
            cand --watch 'Re-run the affected suites whenever a .gov or suite file under the paths (or their bundles) changes'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;build'= {
            cand -o 'Where to write the bundle (written atomically)'
            cand --output 'Where to write the bundle (written atomically)'
            cand --store 'Also keep the bundle in this folder as `<digest hex>.govb`, where `govern replay-audit --bundles DIR` finds it by the digest an audit log names'
            cand --format 'How to print errors in the policies'
            cand --color 'When to use colours in messages'
            cand --listing 'Also print a readable disassembly of the bundle'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;eval'= {
            cand --bundle 'A compiled bundle to evaluate with'
            cand --policy 'Policy files or directories to compile and evaluate with (repeat for several)'
            cand --trust 'Refuse the bundle unless its signature verifies against this trust file (see `govern verify`); checked before any event is read'
            cand --signature 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)'
            cand --state 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded'
            cand --max-keys 'The most keys each count, sum or seen holds in the stream state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed'
            cand --input-format 'The format of the events, as `simulate` reads traces (gzip is recognised by its bytes)'
            cand --clock 'Where an event''s time comes from: its own `ts` (`event`), or this machine''s clock, written into `ts` before deciding (`host`, as a live decision point keeps time)'
            cand --audit-log 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)'
            cand --audit-sync 'When records reach the disk. A crash of govern loses no record in any mode'
            cand --audit-key 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end'
            cand --checkpoint-every 'Records between signed checkpoints [default: 1000]'
            cand --audit-rotate 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …'
            cand --restore-max 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]'
            cand --color 'When to use colours in messages'
            cand --explain 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes'
            cand --exit-code 'Make the exit status tell allow (0), deny (1) and escalate (3) apart'
            cand --fresh-state 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;replay-audit'= {
            cand --bundle 'The bundle the log''s decisions were taken with'
            cand --bundles 'A folder of bundles, found by digest (`govern build --store DIR` fills one)'
            cand --key 'Public keys checkpoints may be signed with (SPKI PEM); repeat for several'
            cand --trust 'A trust file (see docs/signing.md) whose keys may sign checkpoints'
            cand --expect-head 'The hash of a record kept elsewhere (a head reported by the decision point): the log must hold it, which vouches for every record up to it'
            cand --expect-count 'The number of records the log must hold at least (with --expect-head: the head is record N-1)'
            cand --against 'Also decide every event with this bundle (or policies) and report what flips'
            cand --format 'How to report'
            cand --color 'When to use colours in messages'
            cand --no-replay 'Check the chain and the checkpoints only: decide nothing again'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;simulate'= {
            cand --policy 'Policy files or directories to compile and simulate (repeat for several)'
            cand --bundle 'A compiled bundle to simulate'
            cand --baseline 'Baseline policy files or directories (the policy in production) to compare with'
            cand --baseline-bundle 'A compiled baseline bundle to compare with'
            cand --mcp-pair 'Two one-direction MCP logs of one connection, read as one trace: CLIENT holds the messages the client sent, SERVER those the server sent; merged by their timestamps, or in causal order without them (repeat for several connections)'
            cand --input-format 'The format of the traces'
            cand --format 'What to print'
            cand --fail-on 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1'
            cand --max-errors 'Skip up to N bad records (counted in the report) instead of stopping at the first'
            cand --dump-events 'Write every decided event, as read from the traces (OTLP spans and MCP messages turned into events), to FILE: one JSON object per line, in decision order (line N is the event of the N-th `--format jsonl` decision). Written atomically'
            cand -j 'Threads that parse events (default: the number of cores). Output does not depend on it'
            cand --jobs 'Threads that parse events (default: the number of cores). Output does not depend on it'
            cand --trust 'Refuse the bundles (--bundle and --baseline-bundle) unless their signatures (`BUNDLE.sig.json`) verify against this trust file; policy sources cannot be trusted'
            cand --state 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded'
            cand --max-keys 'The most keys each count, sum or seen holds in a stream''s state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed, and the report says how many records were refused'
            cand --color 'When to use colours in messages'
            cand --no-progress 'Never show the progress bar (it shows only when standard error is a terminal)'
            cand --stats 'Print run statistics on standard error: time, events per second, peak memory, stream state size'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;serve'= {
            cand --bundle 'The compiled bundle to decide with (read again on reload)'
            cand --trust 'Refuse any bundle, at start and on reload, whose signature does not verify against this trust file (see `govern verify`)'
            cand --signature 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)'
            cand --listen 'Where to listen: `host:port` or `unix:/path/to.sock` (repeat for several)'
            cand --max-keys 'The most keys each count, sum or seen holds in the stream state. Beyond it, new keys are unknown: rules on them fail closed'
            cand --audit-log 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)'
            cand --audit-sync 'When records reach the disk. A crash of govern loses no record in any mode'
            cand --audit-key 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end'
            cand --checkpoint-every 'Records between signed checkpoints [default: 1000]'
            cand --audit-rotate 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …'
            cand --restore-max 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]'
            cand --state 'With --trust: the state file of last-seen versions (as `govern verify --state`), checked at start and at every reload: a bundle older than the last version of its name loaded is refused (and the one in force stays), a newer one recorded'
            cand --log-format 'How log lines are written on standard error'
            cand --threads 'Worker threads [default: one per core]'
            cand --decision-timeout 'How long a decision may take once its request is read, waiting for the disk with --audit-sync always, before it is denied, in milliseconds'
            cand --request-timeout 'How long a client may take to send a request''s headers, and then its body, in seconds (a slower one gets `408` and a deny)'
            cand --idle-timeout 'Close a connection that has moved no byte for this long, in seconds'
            cand --drain-timeout 'How long SIGTERM waits for the requests in flight, in seconds'
            cand --color 'When to use colours in messages'
            cand --fresh-state 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)'
            cand --audit-required 'Deny every decision whose audit record cannot be written, and every later one (default: keep deciding without records, count the errors and log them)'
            cand --no-watch 'Reload on SIGHUP only, not when the bundle files change'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;diff'= {
            cand --git 'Compare PATHS at this git revision (the old side) with the working tree, or two revisions with `A..B`'
            cand --format 'How to print the result'
            cand --fail-on 'CI gates: `new-allow` (a request may now be allowed that was not), `any-change`; repeat or separate with commas. A failed gate makes the exit status 1'
            cand --max-nodes 'The most diagram nodes one stage of the comparison may make; past it, the report says what was not proved'
            cand --max-regions 'Regions listed, each with a witness, per group; the others are counted'
            cand --jobs 'Threads comparing a large change, tool by tool, and finding its witnesses [default: one per core]. The report does not depend on it'
            cand --color 'When to use colours in messages'
            cand --all 'Also report, where the verdict stays the same, changes in the determining rules, their messages and warnings'
            cand --equivalent 'Prove that both versions decide every request identically (verdict, determining rules, messages, warnings): exit 0 only then'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;chaos-run'= {
            cand --format 'format'
            cand --jobs 'Threads deciding mutants [default: one per core]. The findings do not depend on it'
            cand --seed 'Override the experiment''s seed'
            cand --mutants 'Override the experiment''s mutant budget'
            cand --time 'Override the experiment''s time budget (`30s`, `5m`)'
            cand --diagnostics 'How errors (bad experiments, policies, traces) are printed'
            cand --color 'When to use colours in messages'
            cand --no-progress 'No progress bar on a terminal'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;keygen'= {
            cand -o 'The path and name of the key files, without extension'
            cand --output 'The path and name of the key files, without extension'
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;sign'= {
            cand --key 'The private key (PKCS#8 PEM, from `govern keygen` or `openssl genpkey`)'
            cand --out 'Where to write the envelope (default: TARGET.sig.json beside the target)'
            cand --expires 'When the signature stops being accepted: an RFC 3339 time or a duration after creation (`90d`, `12h`, `1y`, `1d12h`)'
            cand --name 'The name in the manifest (default: from agent-plugin.yaml, else the file name)'
            cand --version 'The version in the manifest (from agent-plugin.yaml for plugins; required otherwise)'
            cand --created 'The creation time to record (RFC 3339; default now), for reproducible envelopes'
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'govern;verify'= {
            cand --trust 'The trust file: accepted keys, revocations and threshold'
            cand --signature 'The envelope (default: TARGET.sig.json beside the target)'
            cand --state 'Last-seen versions: refuse rollbacks and record newer versions'
            cand --format 'How to report'
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;keyid'= {
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;mcp-import'= {
            cand --name 'The name of the skeleton''s policy (default: the server''s name, else the file''s)'
            cand -o 'Write the policy text to FILE (atomically) instead of standard output'
            cand --output 'Write the policy text to FILE (atomically) instead of standard output'
            cand --format 'What to print on standard output'
            cand --timeout 'Seconds to wait for each answer of the server (--from-server)'
            cand --color 'When to use colours in messages'
            cand --from-server 'Ask the MCP server started by the command after `--` (over stdio)'
            cand --skeleton 'Write a deny-by-default policy file listing every tool, not only the declarations'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;mcp-proxy'= {
            cand --bundle 'A compiled bundle to decide with'
            cand --policy 'A policy file or directory, compiled at start'
            cand --trust 'Refuse a bundle whose signature does not verify against this trust file'
            cand --signature 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)'
            cand --agent 'The agent id of every event, over the name the client declares'
            cand --session 'The session of every event [default: `mcp-` and the process id and start time]'
            cand --deny-with 'How a denied call is answered'
            cand --max-keys 'The most keys each count, sum or seen holds in the stream state'
            cand --audit-log 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)'
            cand --audit-sync 'When records reach the disk. A crash of govern loses no record in any mode'
            cand --audit-key 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end'
            cand --checkpoint-every 'Records between signed checkpoints [default: 1000]'
            cand --audit-rotate 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …'
            cand --restore-max 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]'
            cand --log-format 'How log lines are written on standard error'
            cand --upstream 'Stand in front of this Streamable HTTP MCP server (`http://host:port/path` or `https://…`) instead of starting one: clients connect to --listen'
            cand --listen 'Where the HTTP gateway listens, with --upstream (port 0: any free port, logged)'
            cand --upstream-timeout 'Seconds the --upstream server has to accept a connection (with the TLS handshake) and to start answering'
            cand --upstream-ca 'Trust only the certificates of this PEM file (a private CA) for an https:// --upstream [default: the system''s roots]'
            cand --request-timeout 'How long a client may take to send a request''s headers, and then its body, in seconds (a slower one is answered `408` or disconnected)'
            cand --idle-timeout 'Close a client connection that has moved no byte for this long with no request in flight, or whose reader has taken no byte for this long, in seconds'
            cand --trace 'Append every message the client sends and receives to FILE, one envelope per line (`ts`, `session`, `direction`, `message`: the MCP trace form `simulate` reads)'
            cand --color 'When to use colours in messages'
            cand --hide-denied 'Remove from tools/list results the tools the policy denies whatever the arguments'
            cand --fresh-state 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)'
            cand --audit-required 'Deny every call whose audit record cannot be written, and every later one (default: keep deciding without records, and log the error)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;completions'= {
            cand --color 'When to use colours in messages'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'govern;help'= {
            cand lint 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more'
            cand fmt 'Rewrite policy files in the one canonical layout'
            cand explain 'Print the documentation of a lint'
            cand test 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites'
            cand build 'Compile policies into a verified bytecode bundle (.govb)'
            cand eval 'Decide events with a bundle or with policies compiled on the fly'
            cand replay-audit 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again'
            cand simulate 'Replay recorded traffic through a policy: what it decides, and what changes'
            cand serve 'Run a decision point over HTTP: agents ask it before they act'
            cand diff 'Every request whose decision a policy change flips, proved on the decision diagrams'
            cand chaos-run 'Mutate recorded events the way an attacker would respell them and hunt the bypasses'
            cand keygen 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)'
            cand sign 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)'
            cand verify 'Verify a signed plugin, bundle or files against a trust file'
            cand keyid 'Print the id of a public (or private) key'
            cand mcp-import 'Turn an MCP server''s tool list into `tool` declarations (and a deny-by-default policy)'
            cand mcp-proxy 'Stand between an MCP client and server: decide every tool call before the server sees it'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'govern;help;lint'= {
        }
        &'govern;help;fmt'= {
        }
        &'govern;help;explain'= {
        }
        &'govern;help;test'= {
        }
        &'govern;help;build'= {
        }
        &'govern;help;eval'= {
        }
        &'govern;help;replay-audit'= {
        }
        &'govern;help;simulate'= {
        }
        &'govern;help;serve'= {
        }
        &'govern;help;diff'= {
        }
        &'govern;help;chaos-run'= {
        }
        &'govern;help;keygen'= {
        }
        &'govern;help;sign'= {
        }
        &'govern;help;verify'= {
        }
        &'govern;help;keyid'= {
        }
        &'govern;help;mcp-import'= {
        }
        &'govern;help;mcp-proxy'= {
        }
        &'govern;help;completions'= {
        }
        &'govern;help;help'= {
        }
    ]
    $completions[$command]
}
