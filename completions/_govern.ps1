
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'govern' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'govern'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'govern' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('lint', 'lint', [CompletionResultType]::ParameterValue, 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more')
            [CompletionResult]::new('fmt', 'fmt', [CompletionResultType]::ParameterValue, 'Rewrite policy files in the one canonical layout')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Print the documentation of a lint')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Compile policies into a verified bytecode bundle (.govb)')
            [CompletionResult]::new('eval', 'eval', [CompletionResultType]::ParameterValue, 'Decide events with a bundle or with policies compiled on the fly')
            [CompletionResult]::new('replay-audit', 'replay-audit', [CompletionResultType]::ParameterValue, 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay recorded traffic through a policy: what it decides, and what changes')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a decision point over HTTP: agents ask it before they act')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Every request whose decision a policy change flips, proved on the decision diagrams')
            [CompletionResult]::new('chaos-run', 'chaos-run', [CompletionResultType]::ParameterValue, 'Mutate recorded events the way an attacker would respell them and hunt the bypasses')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)')
            [CompletionResult]::new('sign', 'sign', [CompletionResultType]::ParameterValue, 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a signed plugin, bundle or files against a trust file')
            [CompletionResult]::new('keyid', 'keyid', [CompletionResultType]::ParameterValue, 'Print the id of a public (or private) key')
            [CompletionResult]::new('mcp-import', 'mcp-import', [CompletionResultType]::ParameterValue, 'Turn an MCP server''s tool list into `tool` declarations (and a deny-by-default policy)')
            [CompletionResult]::new('mcp-proxy', 'mcp-proxy', [CompletionResultType]::ParameterValue, 'Stand between an MCP client and server: decide every tool call before the server sees it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'govern;lint' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to print the findings')
            [CompletionResult]::new('--fail-level', '--fail-level', [CompletionResultType]::ParameterName, 'Exit with status 1 when a finding has this level or a higher one [default: the `fail-level` of govern.toml, else error]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Lint again whenever a .gov file under the paths (or govern.toml) changes')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;fmt' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Change nothing: name the files that are not formatted and exit 1 if there are any')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'With --check: check again whenever a .gov file under the paths changes')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;explain' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every lint (with --markdown: the whole reference, `docs/lints.md`)')
            [CompletionResult]::new('--markdown', '--markdown', [CompletionResultType]::ParameterName, 'Print Markdown, as in docs/lints.md')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;test' {
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Only run cases whose name contains this text (matrix cases are named `name [path=value, …]`)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to print the results')
            [CompletionResult]::new('--min-coverage', '--min-coverage', [CompletionResultType]::ParameterName, 'Fail (exit 1) when rule coverage is below P percent (0-100)')
            [CompletionResult]::new('--min-blocked', '--min-blocked', [CompletionResultType]::ParameterName, 'Red-team corpora (cases of `kind: attack`): count an attack that is allowed instead of failing on it, and fail (exit 1) when fewer than P percent of any variant''s attacks are blocked. Benign cases that are not allowed still fail')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'Record the decisions of a trace as a golden suite; repeat for several traces. Read as `simulate` and `eval` read traces: JSONL, JSON objects over several lines, OTLP/JSON spans, MCP messages or an audit log, gzipped or not. Needs --policy and -o')
            [CompletionResult]::new('--input-format', '--input-format', [CompletionResultType]::ParameterName, 'The format of the --record traces (gzip is recognised by its bytes)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where --record writes the suite (atomically)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where --record writes the suite (atomically)')
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'The policies --record decides with (files or directories; repeat for several)')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'Refuse any suite whose bundle is not a `.govb` with a signature (`BUNDLE.sig.json`) that verifies against this trust file (see `govern verify`)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--coverage', '--coverage', [CompletionResultType]::ParameterName, 'Print rule and leaf coverage per bundle, with the rules that never decided')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Re-run the affected suites whenever a .gov or suite file under the paths (or their bundles) changes')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;build' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where to write the bundle (written atomically)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where to write the bundle (written atomically)')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'Also keep the bundle in this folder as `<digest hex>.govb`, where `govern replay-audit --bundles DIR` finds it by the digest an audit log names')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to print errors in the policies')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--listing', '--listing', [CompletionResultType]::ParameterName, 'Also print a readable disassembly of the bundle')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;eval' {
            [CompletionResult]::new('--bundle', '--bundle', [CompletionResultType]::ParameterName, 'A compiled bundle to evaluate with')
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'Policy files or directories to compile and evaluate with (repeat for several)')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'Refuse the bundle unless its signature verifies against this trust file (see `govern verify`); checked before any event is read')
            [CompletionResult]::new('--signature', '--signature', [CompletionResultType]::ParameterName, 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded')
            [CompletionResult]::new('--max-keys', '--max-keys', [CompletionResultType]::ParameterName, 'The most keys each count, sum or seen holds in the stream state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed')
            [CompletionResult]::new('--input-format', '--input-format', [CompletionResultType]::ParameterName, 'The format of the events, as `simulate` reads traces (gzip is recognised by its bytes)')
            [CompletionResult]::new('--clock', '--clock', [CompletionResultType]::ParameterName, 'Where an event''s time comes from: its own `ts` (`event`), or this machine''s clock, written into `ts` before deciding (`host`, as a live decision point keeps time)')
            [CompletionResult]::new('--audit-log', '--audit-log', [CompletionResultType]::ParameterName, 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)')
            [CompletionResult]::new('--audit-sync', '--audit-sync', [CompletionResultType]::ParameterName, 'When records reach the disk. A crash of govern loses no record in any mode')
            [CompletionResult]::new('--audit-key', '--audit-key', [CompletionResultType]::ParameterName, 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end')
            [CompletionResult]::new('--checkpoint-every', '--checkpoint-every', [CompletionResultType]::ParameterName, 'Records between signed checkpoints [default: 1000]')
            [CompletionResult]::new('--audit-rotate', '--audit-rotate', [CompletionResultType]::ParameterName, 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …')
            [CompletionResult]::new('--restore-max', '--restore-max', [CompletionResultType]::ParameterName, 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--explain', '--explain', [CompletionResultType]::ParameterName, 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes')
            [CompletionResult]::new('--exit-code', '--exit-code', [CompletionResultType]::ParameterName, 'Make the exit status tell allow (0), deny (1) and escalate (3) apart')
            [CompletionResult]::new('--fresh-state', '--fresh-state', [CompletionResultType]::ParameterName, 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;replay-audit' {
            [CompletionResult]::new('--bundle', '--bundle', [CompletionResultType]::ParameterName, 'The bundle the log''s decisions were taken with')
            [CompletionResult]::new('--bundles', '--bundles', [CompletionResultType]::ParameterName, 'A folder of bundles, found by digest (`govern build --store DIR` fills one)')
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'Public keys checkpoints may be signed with (SPKI PEM); repeat for several')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'A trust file (see docs/signing.md) whose keys may sign checkpoints')
            [CompletionResult]::new('--expect-head', '--expect-head', [CompletionResultType]::ParameterName, 'The hash of a record kept elsewhere (a head reported by the decision point): the log must hold it, which vouches for every record up to it')
            [CompletionResult]::new('--expect-count', '--expect-count', [CompletionResultType]::ParameterName, 'The number of records the log must hold at least (with --expect-head: the head is record N-1)')
            [CompletionResult]::new('--against', '--against', [CompletionResultType]::ParameterName, 'Also decide every event with this bundle (or policies) and report what flips')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to report')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--no-replay', '--no-replay', [CompletionResultType]::ParameterName, 'Check the chain and the checkpoints only: decide nothing again')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;simulate' {
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'Policy files or directories to compile and simulate (repeat for several)')
            [CompletionResult]::new('--bundle', '--bundle', [CompletionResultType]::ParameterName, 'A compiled bundle to simulate')
            [CompletionResult]::new('--baseline', '--baseline', [CompletionResultType]::ParameterName, 'Baseline policy files or directories (the policy in production) to compare with')
            [CompletionResult]::new('--baseline-bundle', '--baseline-bundle', [CompletionResultType]::ParameterName, 'A compiled baseline bundle to compare with')
            [CompletionResult]::new('--mcp-pair', '--mcp-pair', [CompletionResultType]::ParameterName, 'Two one-direction MCP logs of one connection, read as one trace: CLIENT holds the messages the client sent, SERVER those the server sent; merged by their timestamps, or in causal order without them (repeat for several connections)')
            [CompletionResult]::new('--input-format', '--input-format', [CompletionResultType]::ParameterName, 'The format of the traces')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'What to print')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1')
            [CompletionResult]::new('--max-errors', '--max-errors', [CompletionResultType]::ParameterName, 'Skip up to N bad records (counted in the report) instead of stopping at the first')
            [CompletionResult]::new('--dump-events', '--dump-events', [CompletionResultType]::ParameterName, 'Write every decided event, as read from the traces (OTLP spans and MCP messages turned into events), to FILE: one JSON object per line, in decision order (line N is the event of the N-th `--format jsonl` decision). Written atomically')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Threads that parse events (default: the number of cores). Output does not depend on it')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Threads that parse events (default: the number of cores). Output does not depend on it')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'Refuse the bundles (--bundle and --baseline-bundle) unless their signatures (`BUNDLE.sig.json`) verify against this trust file; policy sources cannot be trusted')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'With --trust: the state file of last-seen versions (as `govern verify --state`): a bundle older than the last version of its name loaded is refused, a newer one recorded')
            [CompletionResult]::new('--max-keys', '--max-keys', [CompletionResultType]::ParameterName, 'The most keys each count, sum or seen holds in a stream''s state (keys with an event in the window). Beyond it, new keys are unknown: rules on them fail closed, and the report says how many records were refused')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never show the progress bar (it shows only when standard error is a terminal)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print run statistics on standard error: time, events per second, peak memory, stream state size')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;serve' {
            [CompletionResult]::new('--bundle', '--bundle', [CompletionResultType]::ParameterName, 'The compiled bundle to decide with (read again on reload)')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'Refuse any bundle, at start and on reload, whose signature does not verify against this trust file (see `govern verify`)')
            [CompletionResult]::new('--signature', '--signature', [CompletionResultType]::ParameterName, 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Where to listen: `host:port` or `unix:/path/to.sock` (repeat for several)')
            [CompletionResult]::new('--max-keys', '--max-keys', [CompletionResultType]::ParameterName, 'The most keys each count, sum or seen holds in the stream state. Beyond it, new keys are unknown: rules on them fail closed')
            [CompletionResult]::new('--audit-log', '--audit-log', [CompletionResultType]::ParameterName, 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)')
            [CompletionResult]::new('--audit-sync', '--audit-sync', [CompletionResultType]::ParameterName, 'When records reach the disk. A crash of govern loses no record in any mode')
            [CompletionResult]::new('--audit-key', '--audit-key', [CompletionResultType]::ParameterName, 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end')
            [CompletionResult]::new('--checkpoint-every', '--checkpoint-every', [CompletionResultType]::ParameterName, 'Records between signed checkpoints [default: 1000]')
            [CompletionResult]::new('--audit-rotate', '--audit-rotate', [CompletionResultType]::ParameterName, 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …')
            [CompletionResult]::new('--restore-max', '--restore-max', [CompletionResultType]::ParameterName, 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'With --trust: the state file of last-seen versions (as `govern verify --state`), checked at start and at every reload: a bundle older than the last version of its name loaded is refused (and the one in force stays), a newer one recorded')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'How log lines are written on standard error')
            [CompletionResult]::new('--threads', '--threads', [CompletionResultType]::ParameterName, 'Worker threads [default: one per core]')
            [CompletionResult]::new('--decision-timeout', '--decision-timeout', [CompletionResultType]::ParameterName, 'How long a decision may take once its request is read, waiting for the disk with --audit-sync always, before it is denied, in milliseconds')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long a client may take to send a request''s headers, and then its body, in seconds (a slower one gets `408` and a deny)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a connection that has moved no byte for this long, in seconds')
            [CompletionResult]::new('--drain-timeout', '--drain-timeout', [CompletionResultType]::ParameterName, 'How long SIGTERM waits for the requests in flight, in seconds')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--fresh-state', '--fresh-state', [CompletionResultType]::ParameterName, 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)')
            [CompletionResult]::new('--audit-required', '--audit-required', [CompletionResultType]::ParameterName, 'Deny every decision whose audit record cannot be written, and every later one (default: keep deciding without records, count the errors and log them)')
            [CompletionResult]::new('--no-watch', '--no-watch', [CompletionResultType]::ParameterName, 'Reload on SIGHUP only, not when the bundle files change')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;diff' {
            [CompletionResult]::new('--git', '--git', [CompletionResultType]::ParameterName, 'Compare PATHS at this git revision (the old side) with the working tree, or two revisions with `A..B`')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to print the result')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'CI gates: `new-allow` (a request may now be allowed that was not), `any-change`; repeat or separate with commas. A failed gate makes the exit status 1')
            [CompletionResult]::new('--max-nodes', '--max-nodes', [CompletionResultType]::ParameterName, 'The most diagram nodes one stage of the comparison may make; past it, the report says what was not proved')
            [CompletionResult]::new('--max-regions', '--max-regions', [CompletionResultType]::ParameterName, 'Regions listed, each with a witness, per group; the others are counted')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Threads comparing a large change, tool by tool, and finding its witnesses [default: one per core]. The report does not depend on it')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Also report, where the verdict stays the same, changes in the determining rules, their messages and warnings')
            [CompletionResult]::new('--equivalent', '--equivalent', [CompletionResultType]::ParameterName, 'Prove that both versions decide every request identically (verdict, determining rules, messages, warnings): exit 0 only then')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;chaos-run' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'format')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Threads deciding mutants [default: one per core]. The findings do not depend on it')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Override the experiment''s seed')
            [CompletionResult]::new('--mutants', '--mutants', [CompletionResultType]::ParameterName, 'Override the experiment''s mutant budget')
            [CompletionResult]::new('--time', '--time', [CompletionResultType]::ParameterName, 'Override the experiment''s time budget (`30s`, `5m`)')
            [CompletionResult]::new('--diagnostics', '--diagnostics', [CompletionResultType]::ParameterName, 'How errors (bad experiments, policies, traces) are printed')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'No progress bar on a terminal')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;keygen' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'The path and name of the key files, without extension')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'The path and name of the key files, without extension')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;sign' {
            [CompletionResult]::new('--key', '--key', [CompletionResultType]::ParameterName, 'The private key (PKCS#8 PEM, from `govern keygen` or `openssl genpkey`)')
            [CompletionResult]::new('--out', '--out', [CompletionResultType]::ParameterName, 'Where to write the envelope (default: TARGET.sig.json beside the target)')
            [CompletionResult]::new('--expires', '--expires', [CompletionResultType]::ParameterName, 'When the signature stops being accepted: an RFC 3339 time or a duration after creation (`90d`, `12h`, `1y`, `1d12h`)')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The name in the manifest (default: from agent-plugin.yaml, else the file name)')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'The version in the manifest (from agent-plugin.yaml for plugins; required otherwise)')
            [CompletionResult]::new('--created', '--created', [CompletionResultType]::ParameterName, 'The creation time to record (RFC 3339; default now), for reproducible envelopes')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'govern;verify' {
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'The trust file: accepted keys, revocations and threshold')
            [CompletionResult]::new('--signature', '--signature', [CompletionResultType]::ParameterName, 'The envelope (default: TARGET.sig.json beside the target)')
            [CompletionResult]::new('--state', '--state', [CompletionResultType]::ParameterName, 'Last-seen versions: refuse rollbacks and record newer versions')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'How to report')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;keyid' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;mcp-import' {
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'The name of the skeleton''s policy (default: the server''s name, else the file''s)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Write the policy text to FILE (atomically) instead of standard output')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the policy text to FILE (atomically) instead of standard output')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'What to print on standard output')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Seconds to wait for each answer of the server (--from-server)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--from-server', '--from-server', [CompletionResultType]::ParameterName, 'Ask the MCP server started by the command after `--` (over stdio)')
            [CompletionResult]::new('--skeleton', '--skeleton', [CompletionResultType]::ParameterName, 'Write a deny-by-default policy file listing every tool, not only the declarations')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;mcp-proxy' {
            [CompletionResult]::new('--bundle', '--bundle', [CompletionResultType]::ParameterName, 'A compiled bundle to decide with')
            [CompletionResult]::new('--policy', '--policy', [CompletionResultType]::ParameterName, 'A policy file or directory, compiled at start')
            [CompletionResult]::new('--trust', '--trust', [CompletionResultType]::ParameterName, 'Refuse a bundle whose signature does not verify against this trust file')
            [CompletionResult]::new('--signature', '--signature', [CompletionResultType]::ParameterName, 'The bundle''s signature file, with --trust (default: BUNDLE.sig.json)')
            [CompletionResult]::new('--agent', '--agent', [CompletionResultType]::ParameterName, 'The agent id of every event, over the name the client declares')
            [CompletionResult]::new('--session', '--session', [CompletionResultType]::ParameterName, 'The session of every event [default: `mcp-` and the process id and start time]')
            [CompletionResult]::new('--deny-with', '--deny-with', [CompletionResultType]::ParameterName, 'How a denied call is answered')
            [CompletionResult]::new('--max-keys', '--max-keys', [CompletionResultType]::ParameterName, 'The most keys each count, sum or seen holds in the stream state')
            [CompletionResult]::new('--audit-log', '--audit-log', [CompletionResultType]::ParameterName, 'Append a hash-chained record of every decision to this audit log, before the decision is used (printed, answered or acted on); an existing log is continued (see docs/audit.md)')
            [CompletionResult]::new('--audit-sync', '--audit-sync', [CompletionResultType]::ParameterName, 'When records reach the disk. A crash of govern loses no record in any mode')
            [CompletionResult]::new('--audit-key', '--audit-key', [CompletionResultType]::ParameterName, 'Sign checkpoints with this private key (PKCS#8 PEM, `govern keygen`): every --checkpoint-every records, at rotation and at the end')
            [CompletionResult]::new('--checkpoint-every', '--checkpoint-every', [CompletionResultType]::ParameterName, 'Records between signed checkpoints [default: 1000]')
            [CompletionResult]::new('--audit-rotate', '--audit-rotate', [CompletionResultType]::ParameterName, 'Start a new file of the log once the current one reaches SIZE bytes (`64M`, `1G`); `audit.jsonl` continues in `audit.1.jsonl`, `audit.2.jsonl`, …')
            [CompletionResult]::new('--restore-max', '--restore-max', [CompletionResultType]::ParameterName, 'The most records a restart re-decides to restore the stream state; a log with more since its last fresh bundle record refuses to start (exit 2) [default: 10000000]')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'How log lines are written on standard error')
            [CompletionResult]::new('--upstream', '--upstream', [CompletionResultType]::ParameterName, 'Stand in front of this Streamable HTTP MCP server (`http://host:port/path` or `https://…`) instead of starting one: clients connect to --listen')
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Where the HTTP gateway listens, with --upstream (port 0: any free port, logged)')
            [CompletionResult]::new('--upstream-timeout', '--upstream-timeout', [CompletionResultType]::ParameterName, 'Seconds the --upstream server has to accept a connection (with the TLS handshake) and to start answering')
            [CompletionResult]::new('--upstream-ca', '--upstream-ca', [CompletionResultType]::ParameterName, 'Trust only the certificates of this PEM file (a private CA) for an https:// --upstream [default: the system''s roots]')
            [CompletionResult]::new('--request-timeout', '--request-timeout', [CompletionResultType]::ParameterName, 'How long a client may take to send a request''s headers, and then its body, in seconds (a slower one is answered `408` or disconnected)')
            [CompletionResult]::new('--idle-timeout', '--idle-timeout', [CompletionResultType]::ParameterName, 'Close a client connection that has moved no byte for this long with no request in flight, or whose reader has taken no byte for this long, in seconds')
            [CompletionResult]::new('--trace', '--trace', [CompletionResultType]::ParameterName, 'Append every message the client sends and receives to FILE, one envelope per line (`ts`, `session`, `direction`, `message`: the MCP trace form `simulate` reads)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--hide-denied', '--hide-denied', [CompletionResultType]::ParameterName, 'Remove from tools/list results the tools the policy denies whatever the arguments')
            [CompletionResult]::new('--fresh-state', '--fresh-state', [CompletionResultType]::ParameterName, 'Start with fresh stream state even when the log''s last bundle record has this bundle and limits. By default a restart restores the state (rate limits, budgets, `seen`) by deciding again the log''s records since that record; the bundle record it writes says which (docs/audit.md)')
            [CompletionResult]::new('--audit-required', '--audit-required', [CompletionResultType]::ParameterName, 'Deny every call whose audit record cannot be written, and every later one (default: keep deciding without records, and log the error)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;completions' {
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'govern;help' {
            [CompletionResult]::new('lint', 'lint', [CompletionResultType]::ParameterValue, 'Find mistakes in policies, with proof: unreachable, shadowed and conflicting rules, risky regexes and comparisons, and more')
            [CompletionResult]::new('fmt', 'fmt', [CompletionResultType]::ParameterValue, 'Rewrite policy files in the one canonical layout')
            [CompletionResult]::new('explain', 'explain', [CompletionResultType]::ParameterValue, 'Print the documentation of a lint')
            [CompletionResult]::new('test', 'test', [CompletionResultType]::ParameterValue, 'Run policy test suites (*.test.yaml), with coverage; record traces as golden suites')
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Compile policies into a verified bytecode bundle (.govb)')
            [CompletionResult]::new('eval', 'eval', [CompletionResultType]::ParameterValue, 'Decide events with a bundle or with policies compiled on the fly')
            [CompletionResult]::new('replay-audit', 'replay-audit', [CompletionResultType]::ParameterValue, 'Verify an audit log (hashes, chain, signed checkpoints) and decide every event again')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay recorded traffic through a policy: what it decides, and what changes')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run a decision point over HTTP: agents ask it before they act')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Every request whose decision a policy change flips, proved on the decision diagrams')
            [CompletionResult]::new('chaos-run', 'chaos-run', [CompletionResultType]::ParameterValue, 'Mutate recorded events the way an attacker would respell them and hunt the bypasses')
            [CompletionResult]::new('keygen', 'keygen', [CompletionResultType]::ParameterValue, 'Create an Ed25519 signing key pair (NAME.key, NAME.pub)')
            [CompletionResult]::new('sign', 'sign', [CompletionResultType]::ParameterValue, 'Sign a plugin directory, a bundle or files (writes a DSSE envelope)')
            [CompletionResult]::new('verify', 'verify', [CompletionResultType]::ParameterValue, 'Verify a signed plugin, bundle or files against a trust file')
            [CompletionResult]::new('keyid', 'keyid', [CompletionResultType]::ParameterValue, 'Print the id of a public (or private) key')
            [CompletionResult]::new('mcp-import', 'mcp-import', [CompletionResultType]::ParameterValue, 'Turn an MCP server''s tool list into `tool` declarations (and a deny-by-default policy)')
            [CompletionResult]::new('mcp-proxy', 'mcp-proxy', [CompletionResultType]::ParameterValue, 'Stand between an MCP client and server: decide every tool call before the server sees it')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'govern;help;lint' {
            break
        }
        'govern;help;fmt' {
            break
        }
        'govern;help;explain' {
            break
        }
        'govern;help;test' {
            break
        }
        'govern;help;build' {
            break
        }
        'govern;help;eval' {
            break
        }
        'govern;help;replay-audit' {
            break
        }
        'govern;help;simulate' {
            break
        }
        'govern;help;serve' {
            break
        }
        'govern;help;diff' {
            break
        }
        'govern;help;chaos-run' {
            break
        }
        'govern;help;keygen' {
            break
        }
        'govern;help;sign' {
            break
        }
        'govern;help;verify' {
            break
        }
        'govern;help;keyid' {
            break
        }
        'govern;help;mcp-import' {
            break
        }
        'govern;help;mcp-proxy' {
            break
        }
        'govern;help;completions' {
            break
        }
        'govern;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
