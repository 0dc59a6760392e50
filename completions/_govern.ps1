
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
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Compile policies into a verified bytecode bundle (.govb)')
            [CompletionResult]::new('eval', 'eval', [CompletionResultType]::ParameterValue, 'Decide events with a bundle or with policies compiled on the fly')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay recorded traffic through a policy: what it decides, and what changes')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'govern;build' {
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Where to write the bundle (written atomically)')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Where to write the bundle (written atomically)')
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
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--explain', '--explain', [CompletionResultType]::ParameterName, 'Explain each decision for people: matched rules, the tests on the deciding path, unknown attributes')
            [CompletionResult]::new('--exit-code', '--exit-code', [CompletionResultType]::ParameterName, 'Make the exit status tell allow (0), deny (1) and escalate (3) apart')
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
            [CompletionResult]::new('--input-format', '--input-format', [CompletionResultType]::ParameterName, 'The format of the traces')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'What to print')
            [CompletionResult]::new('--fail-on', '--fail-on', [CompletionResultType]::ParameterName, 'CI gates: `new-allow`, `any-flip`, `deny-rate>X` (X a fraction or a percentage); repeat or separate with commas. A failed gate makes the exit status 1')
            [CompletionResult]::new('--max-errors', '--max-errors', [CompletionResultType]::ParameterName, 'Skip up to N bad records (counted in the report) instead of stopping at the first')
            [CompletionResult]::new('-j', '-j', [CompletionResultType]::ParameterName, 'Threads that parse events (default: the number of cores). Output does not depend on it')
            [CompletionResult]::new('--jobs', '--jobs', [CompletionResultType]::ParameterName, 'Threads that parse events (default: the number of cores). Output does not depend on it')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colours in messages')
            [CompletionResult]::new('--no-progress', '--no-progress', [CompletionResultType]::ParameterName, 'Never show the progress bar (it shows only when standard error is a terminal)')
            [CompletionResult]::new('--stats', '--stats', [CompletionResultType]::ParameterName, 'Print run statistics on standard error: time, events per second, peak memory, stream state size')
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
            [CompletionResult]::new('build', 'build', [CompletionResultType]::ParameterValue, 'Compile policies into a verified bytecode bundle (.govb)')
            [CompletionResult]::new('eval', 'eval', [CompletionResultType]::ParameterValue, 'Decide events with a bundle or with policies compiled on the fly')
            [CompletionResult]::new('simulate', 'simulate', [CompletionResultType]::ParameterValue, 'Replay recorded traffic through a policy: what it decides, and what changes')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'govern;help;build' {
            break
        }
        'govern;help;eval' {
            break
        }
        'govern;help;simulate' {
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
