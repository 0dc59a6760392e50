
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
            cand build 'Compile policies into a verified bytecode bundle (.govb)'
            cand eval 'Decide events with a bundle or with policies compiled on the fly'
            cand simulate 'Replay recorded traffic through a policy: what it decides, and what changes'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'govern;build'= {
            cand -o 'Where to write the bundle (written atomically)'
            cand --output 'Where to write the bundle (written atomically)'
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
            cand --color 'When to use colours in messages'
            cand --explain 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes'
            cand --exit-code 'Make the exit status tell allow (0), deny (1) and escalate (3) apart'
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
            cand --input-format 'The format of the traces'
            cand --format 'What to print'
            cand --fail-on 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1'
            cand --max-errors 'Skip up to N bad records (counted in the report) instead of stopping at the first'
            cand -j 'Threads that parse events (default: the number of cores). Output does not depend on it'
            cand --jobs 'Threads that parse events (default: the number of cores). Output does not depend on it'
            cand --color 'When to use colours in messages'
            cand --no-progress 'Never show the progress bar (it shows only when standard error is a terminal)'
            cand --stats 'Print run statistics on standard error: time, events per second, peak memory, stream state size'
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
            cand build 'Compile policies into a verified bytecode bundle (.govb)'
            cand eval 'Decide events with a bundle or with policies compiled on the fly'
            cand simulate 'Replay recorded traffic through a policy: what it decides, and what changes'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'govern;help;build'= {
        }
        &'govern;help;eval'= {
        }
        &'govern;help;simulate'= {
        }
        &'govern;help;completions'= {
        }
        &'govern;help;help'= {
        }
    ]
    $completions[$command]
}
