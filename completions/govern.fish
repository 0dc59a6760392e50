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
complete -c govern -n "__fish_govern_needs_command" -f -a "build" -d 'Compile policies into a verified bytecode bundle (.govb)'
complete -c govern -n "__fish_govern_needs_command" -f -a "eval" -d 'Decide events with a bundle or with policies compiled on the fly'
complete -c govern -n "__fish_govern_needs_command" -f -a "simulate" -d 'Replay recorded traffic through a policy: what it decides, and what changes'
complete -c govern -n "__fish_govern_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c govern -n "__fish_govern_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c govern -n "__fish_govern_using_subcommand build" -s o -l output -d 'Where to write the bundle (written atomically)' -r -F
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
complete -c govern -n "__fish_govern_using_subcommand eval" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand eval" -l explain -d 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes'
complete -c govern -n "__fish_govern_using_subcommand eval" -l exit-code -d 'Make the exit status tell allow (0), deny (1) and escalate (3) apart'
complete -c govern -n "__fish_govern_using_subcommand eval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand eval" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand simulate" -l policy -d 'Policy files or directories to compile and simulate (repeat for several)' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l bundle -d 'A compiled bundle to simulate' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l baseline -d 'Baseline policy files or directories (the policy in production) to compare with' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l baseline-bundle -d 'A compiled baseline bundle to compare with' -r -F
complete -c govern -n "__fish_govern_using_subcommand simulate" -l input-format -d 'The format of the traces' -r -f -a "auto\t'Detect per input from its first record'
jsonl\t'One event object per line'
otel\t'OpenTelemetry GenAI spans exported as OTLP/JSON'
mcp\t'MCP JSON-RPC messages (tools/call requests and their results)'"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l format -d 'What to print' -r -f -a "text\t'The report for people: tables on a terminal, aligned plain text otherwise'
json\t'The report as one JSON document'
jsonl\t'One decision per event (JSON lines) with its source file and line; no report'"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l fail-on -d 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l max-errors -d 'Skip up to N bad records (counted in the report) instead of stopping at the first' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -s j -l jobs -d 'Threads that parse events (default: the number of cores). Output does not depend on it' -r
complete -c govern -n "__fish_govern_using_subcommand simulate" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand simulate" -l no-progress -d 'Never show the progress bar (it shows only when standard error is a terminal)'
complete -c govern -n "__fish_govern_using_subcommand simulate" -l stats -d 'Print run statistics on standard error: time, events per second, peak memory, stream state size'
complete -c govern -n "__fish_govern_using_subcommand simulate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand simulate" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand completions" -l color -d 'When to use colours in messages' -r -f -a "auto\t'Colour when writing to a terminal and `NO_COLOR` is not set'
always\t''
never\t''"
complete -c govern -n "__fish_govern_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c govern -n "__fish_govern_using_subcommand completions" -s V -l version -d 'Print version'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from build eval simulate completions help" -f -a "build" -d 'Compile policies into a verified bytecode bundle (.govb)'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from build eval simulate completions help" -f -a "eval" -d 'Decide events with a bundle or with policies compiled on the fly'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from build eval simulate completions help" -f -a "simulate" -d 'Replay recorded traffic through a policy: what it decides, and what changes'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from build eval simulate completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c govern -n "__fish_govern_using_subcommand help; and not __fish_seen_subcommand_from build eval simulate completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
