BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath

    # Starts a pwsh running the script and returns the process without waiting for it.
    function Start-ChildPwsh {
        param([string] $Script, [string] $State)
        $file = Join-Path $TestDrive "child-$([Guid]::NewGuid().ToString('N')).ps1"
        Set-Content $file $Script
        $pwsh = Get-PwshCommand
        $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
        foreach ($argument in @($pwsh | Select-Object -Last ($pwsh.Count - 1)) + @('-NoProfile', '-NonInteractive', '-File', $file)) { $info.ArgumentList.Add($argument) }
        $info.UseShellExecute = $false
        $info.RedirectStandardOutput = $true
        $info.Environment['DEPLOYMENT_ROLLBACK_HOME'] = $State
        [Diagnostics.Process]::Start($info)
    }

    function Wait-Until {
        param([scriptblock] $Condition, [int] $TimeoutSec = 60, [int] $PollMs = 20)
        $deadline = [DateTime]::UtcNow.AddSeconds($TimeoutSec)
        while (-not (& $Condition)) {
            if ([DateTime]::UtcNow -gt $deadline) { throw "Timed out waiting for: $Condition" }
            Start-Sleep -Milliseconds $PollMs
        }
    }

    # The rerun, in a fresh pwsh: its outcome, warnings, the history's outcomes and the error id, one per line.
    function Invoke-Rerun {
        param([string] $Repo, [string] $State)
        Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $State } -Script @"
`$ProgressPreference = 'SilentlyContinue'
Import-Module '$modulePath'
try {
    `$result = Invoke-Rollback -Strategy Git -Path '$Repo' -Confirm:`$false -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop
    "outcome=`$(`$result.Outcome) to=`$(`$result.ToVersion)"
}
catch { "error=`$(`$_.FullyQualifiedErrorId)" }
foreach (`$warning in `$warnings) { "warning=`$warning" }
"history=`$((Get-RollbackHistory -TargetKey 'git:$Repo').Outcome -join ',')"
"failed-signals=`$(@(Get-RollbackSignal -Name ROLLBACK_FAILED).Count)"
"@
    }
}

Describe 'A rollback whose process is killed' {
    It 'is marked Interrupted by the next run, which signals ROLLBACK_FAILED, says where it stopped and finishes the job' {
        $repo = New-TestRepository (Join-Path $TestDrive 'restart/repo')
        $state = Join-Path $TestDrive 'restart/state'
        $marker = Join-Path $TestDrive 'restart/restarting'
        $child = Start-ChildPwsh -State $state -Script @"
Import-Module '$modulePath'
Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false -RestartScript { Set-Content '$marker' x; Start-Sleep 120 }
"@
        try { Wait-Until { Test-Path $marker } }
        finally { $child.Kill($true); $child.WaitForExit() }

        $rerun = Invoke-Rerun -Repo $repo -State $state

        $rerun.Error | Should -BeNullOrEmpty
        $rerun.Output | Should -Match 'warning=The attempt at \d\d:\d\d UTC \(\w{12}\) was interrupted during Restart'
        $rerun.Output | Should -Match 'outcome=Skipped to=v2.3.0'
        $rerun.Output | Should -Match 'history=Skipped,Interrupted'
        $rerun.Output | Should -Match 'failed-signals=1'
        Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
    }

    It 'completes its own half-done checkout, but still refuses edits made on top of it' {
        $repo = New-TestRepository (Join-Path $TestDrive 'checkout/repo')
        $state = Join-Path $TestDrive 'checkout/state'
        # Enough files for the checkout to take a while, so the kill lands in the middle of it.
        $count = 5000
        $data = Join-Path $repo 'data'
        $filler = 'x' * 2000
        foreach ($release in 'v2.3.0', 'v2.3.1') {
            Invoke-TestGit $repo checkout --quiet $release | Out-Null
            New-Item -ItemType Directory -Force $data | Out-Null
            for ($i = 0; $i -lt $count; $i++) { [IO.File]::WriteAllText((Join-Path $data ('{0:d5}.txt' -f $i)), "$release $i $filler") }
            Invoke-TestGit $repo add data | Out-Null
            Invoke-TestGit $repo commit --quiet -m "Data for $release" | Out-Null
            Invoke-TestGit $repo tag -f $release | Out-Null
        }
        $first = Join-Path $data '00000.txt'
        $last = Join-Path $data ('{0:d5}.txt' -f ($count - 1))

        $child = Start-ChildPwsh -State $state -Script @"
Import-Module '$modulePath'
Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false
"@
        try { Wait-Until -TimeoutSec 120 -PollMs 5 { (Get-Content -Raw $first -ErrorAction SilentlyContinue) -like 'v2.3.0 *' } }
        finally { $child.Kill($true); $child.WaitForExit() }
        Get-Content -Raw $last | Should -BeLike 'v2.3.1 *' -Because 'the kill must land before the checkout finished'
        Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.1)

        Set-Content (Join-Path $repo 'notes.txt') 'my own work'
        $refused = Invoke-Rerun -Repo $repo -State $state
        $refused.Output | Should -Match 'error=GitWorkingTreeDirty'
        $refused.Output | Should -Match 'warning=.*interrupted during Checkout'
        $refused.Output | Should -Match '(?m)^history=Interrupted\r?$'

        Remove-Item (Join-Path $repo 'notes.txt')
        $rerun = Invoke-Rerun -Repo $repo -State $state
        $rerun.Error | Should -BeNullOrEmpty
        $rerun.Output | Should -Match 'outcome=Succeeded to=v2.3.0'
        Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
        Invoke-TestGit $repo status --porcelain | Should -BeNullOrEmpty
        Invoke-TestGit $repo stash list | Should -BeNullOrEmpty
        Get-Content -Raw $last | Should -BeLike 'v2.3.0 *'
    }
}

Describe 'A rollback stopped with Ctrl+C' {
    It 'records the running step as Cancelled and the attempt as Failed' -Skip:$IsWindows {
        $repo = New-TestRepository (Join-Path $TestDrive 'ctrlc/repo')
        $state = Join-Path $TestDrive 'ctrlc/state'
        $marker = Join-Path $TestDrive 'ctrlc/restarting'
        $child = Start-ChildPwsh -State $state -Script @"
Import-Module '$modulePath'
Invoke-Rollback -Strategy Git -Path '$repo' -Target v2.3.0 -Confirm:`$false -RestartScript { Set-Content '$marker' x; Start-Sleep 120 }
"@
        try {
            Wait-Until { Test-Path $marker }
            # What the terminal sends on Ctrl+C.
            & kill -INT $child.Id
            $child.WaitForExit(60000) | Should -BeTrue
        }
        finally { if (-not $child.HasExited) { $child.Kill($true) } }

        $history = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script @"
Import-Module '$modulePath'
`$attempt = Get-RollbackHistory -TargetKey 'git:$repo'
"outcome=`$(`$attempt.Outcome)"
foreach (`$step in `$attempt.Steps) { "step=`$(`$step.Name):`$(`$step.Status)" }
"@
        $history.Output | Should -Match 'outcome=Failed'
        $history.Output | Should -Match 'step=Checkout .*:Succeeded'
        $history.Output | Should -Match 'step=Restart .*:Cancelled'
    }
}
