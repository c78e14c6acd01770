# The cmdlet surface: the strategy is never guessed, foreign parameters are refused, script steps fail on a non-zero
# exit code, and the default views keep the target, the time and the reason at 80 columns.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
    Import-Module $modulePath -Force

    # HEAD, tags, branch and working tree of a repository, to prove a refused command left it alone.
    function Get-RepositorySnapshot {
        param([string] $Repo)
        [pscustomobject]@{
            Head   = Get-TestHead $Repo
            Branch = (Invoke-TestGit $Repo rev-parse --abbrev-ref HEAD | Select-Object -First 1).Trim()
            Tags   = (Invoke-TestGit $Repo tag --list) -join ','
            Status = (Invoke-TestGit $Repo status --porcelain --untracked-files=all) -join "`n"
            App    = Get-Content -Raw (Join-Path $Repo 'app.txt')
        } | ConvertTo-Json -Compress
    }

    # A pwsh started like a scheduled task runs a runbook: interactive (no -NonInteractive), with an answer waiting on
    # stdin that a parameter prompt would take.
    function Invoke-InteractiveChildPwsh {
        param([string] $Script, [string] $WorkingDirectory, [hashtable] $Environment = @{})
        $file = Join-Path ([IO.Path]::GetTempPath()) "dr-surface-$([Guid]::NewGuid().ToString('N')).ps1"
        Set-Content $file $Script
        try {
            $pwsh = Get-PwshCommand
            $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
            foreach ($argument in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-File', $file)) { $info.ArgumentList.Add($argument) }
            $info.WorkingDirectory = $WorkingDirectory
            $info.RedirectStandardInput = $true
            $info.RedirectStandardOutput = $true
            $info.RedirectStandardError = $true
            $info.UseShellExecute = $false
            $info.Environment['NO_COLOR'] = '1'
            foreach ($key in $Environment.Keys) { $info.Environment[$key] = $Environment[$key] }
            $process = [Diagnostics.Process]::Start($info)
            $process.StandardInput.WriteLine('Git')
            $process.StandardInput.Close()
            $stderr = $process.StandardError.ReadToEndAsync()
            $stdout = $process.StandardOutput.ReadToEnd()
            if (-not $process.WaitForExit(60000)) { $process.Kill($true); throw 'the child pwsh did not finish' }
            [pscustomobject]@{ ExitCode = $process.ExitCode; Output = $stdout; Error = $stderr.Result }
        }
        finally { Remove-Item $file -ErrorAction SilentlyContinue }
    }

    # A script file that starts a long sleep in the background, notes both process ids, and waits for it.
    function New-LingeringScript {
        param([string] $Folder)
        $script = Join-Path $Folder 'restart.sh'
        Set-Content $script "#!/bin/sh`nsleep 300 &`necho `$`$ `$! > '$Folder/pids'`nwait`n" -NoNewline
        chmod +x $script
        $script
    }
}

Describe 'The strategy is never guessed' {
    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $repo = New-TestRepository (Join-Path $work 'repo')
        $state = Join-Path $work 'state'
        $env:DEPLOYMENT_ROLLBACK_HOME = $state
    }

    AfterEach { $env:DEPLOYMENT_ROLLBACK_HOME = $null }

    It 'refuses Invoke-Rollback -Name web -Namespace shop inside a git checkout, in an unattended runbook, and changes nothing' {
        $before = Get-RepositorySnapshot $repo
        $child = Invoke-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath'
Set-Location '$repo'
try { Invoke-Rollback -Name web -Namespace shop -Confirm:`$false; 'not reached' }
catch { "caught=`$(`$_.FullyQualifiedErrorId) message=`$(`$_.Exception.Message)" }
"@
        $child.Output | Should -Match 'caught=StrategyRequired,DeploymentRollback.Commands.InvokeRollbackCommand'
        $child.Output | Should -Match 'message=.*-Strategy'
        $child.Output | Should -Not -Match 'not reached'
        Get-RepositorySnapshot $repo | Should -Be $before
        $state | Should -Not -Exist
    }

    It 'does not prompt for -Strategy in an interactive pwsh either (-Confirm:$false), and changes nothing' {
        $before = Get-RepositorySnapshot $repo
        $child = Invoke-InteractiveChildPwsh -WorkingDirectory $repo -Environment @{ DEPLOYMENT_ROLLBACK_HOME = $state } -Script @"
Import-Module '$modulePath'
try { Invoke-Rollback -Name web -Namespace shop -Confirm:`$false -ErrorAction Stop; 'not reached' }
catch { "caught=`$(`$_.FullyQualifiedErrorId)" }
"@
        $child.Output | Should -Match 'caught=StrategyRequired,'
        $child.Output | Should -Not -Match 'Supply values'
        Get-RepositorySnapshot $repo | Should -Be $before
        $state | Should -Not -Exist
    }

    It '<Command> without -Strategy stops with StrategyRequired' -ForEach @(
        @{ Command = 'Get-RollbackAssessment'; Class = 'GetRollbackAssessmentCommand'; Run = { Get-RollbackAssessment -Path $repo } }
        @{ Command = 'New-RollbackCheckpoint'; Class = 'NewRollbackCheckpointCommand'; Run = { New-RollbackCheckpoint -Path $repo -CheckpointName cp } }
        @{ Command = 'Invoke-Rollback'; Class = 'InvokeRollbackCommand'; Run = { Invoke-Rollback -Path $repo -Target v2.3.0 -Confirm:$false } }
        @{ Command = 'Test-RollbackHealth'; Class = 'TestRollbackHealthCommand'; Run = { Test-RollbackHealth -Path $repo -SmokeTest { $true } -RecordVerified } }
    ) {
        Push-Location $repo
        try { $Run | Should -Throw -ErrorId "StrategyRequired,DeploymentRollback.Commands.$Class" } finally { Pop-Location }
        $state | Should -Not -Exist
    }

    It 'still runs Test-RollbackHealth and Invoke-DeploymentRetry that name no target' {
        $server = Start-TestHttpServer -Status 200
        try {
            (Test-RollbackHealth -Uri $server.Uri -SmokeTest { $true }).Healthy | Should -BeTrue
            # Its -Uri is the health endpoint, not the flag service's address of the FeatureFlag strategy.
            (Test-RollbackHealth -Strategy Git -Path $repo -Uri $server.Uri).TargetKey | Should -BeLike 'git:*'
        }
        finally { Stop-TestHttpServer $server }
        (Invoke-DeploymentRetry { 'deployed' } -Delay 0 -Confirm:$false).TargetKey | Should -BeLike 'retry:*'
    }

    It 'names the retry target by key or by a piped assessment, never by target parameters' {
        { Invoke-DeploymentRetry { 'deployed' } -Path $repo -Delay 0 } | Should -Throw -ErrorId 'NamedParameterNotFound,DeploymentRollback.Commands.InvokeDeploymentRetryCommand'
        $assessment = Get-RollbackAssessment -Strategy Git -Path $repo
        $retried = $assessment | Invoke-DeploymentRetry { 'deployed' } -Delay 0 -MaxAttempts 1 -Confirm:$false
        $retried.TargetKey | Should -Be "git:$repo"
        (Get-RollbackHistory -TargetKey "git:$repo").Strategy | Should -Contain 'QuickRetry'
    }

    It 'takes the strategy from a piped assessment, through checkpoint to rollback' {
        $result = Get-RollbackAssessment -Strategy Git -Path $repo | New-RollbackCheckpoint -PassThru | Invoke-Rollback -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.ToVersion | Should -Be 'v2.3.0'
    }

    It 'takes the strategy and path from a piped checkpoint' {
        $result = New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName before | Invoke-Rollback -Target v2.3.0 -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $result.TargetKey | Should -Be "git:$repo"
    }

    It 'does not count what a piped assessment binds by property name as a foreign parameter' {
        # A Config assessment binds -Target (its last good version) from the pipeline; Config has no -Target of its own.
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'feature: bad'
        Set-Content (Join-Path $work 'app.previous.yml') 'feature: good'
        $result = Get-RollbackAssessment -Strategy Config -Path $config | Invoke-Rollback -PreviousPath app.previous.yml -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        (Get-Content -Raw $config).Trim() | Should -Be 'feature: good'
    }
}

Describe 'Parameters that do not belong to the strategy' {
    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $repo = New-TestRepository (Join-Path $work 'repo')
        $state = Join-Path $work 'state'
        $env:DEPLOYMENT_ROLLBACK_HOME = $state
    }

    AfterEach { $env:DEPLOYMENT_ROLLBACK_HOME = $null }

    It 'refuses -Namespace with -Strategy Git, naming the parameter and its strategy, and changes nothing' {
        $before = Get-RepositorySnapshot $repo
        $caught = $null
        try { Invoke-Rollback -Strategy Git -Path $repo -Namespace shop -Target v2.3.0 -Confirm:$false } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'ParameterNotForStrategy,DeploymentRollback.Commands.InvokeRollbackCommand'
        $caught.Exception.Message | Should -Match '-Namespace'
        $caught.Exception.Message | Should -Match 'Kubernetes'
        Get-RepositorySnapshot $repo | Should -Be $before
        $state | Should -Not -Exist
    }

    It 'refuses -Commit with -Mode Checkout' {
        $before = Get-RepositorySnapshot $repo
        $commit = Get-TestHead $repo
        $caught = $null
        try { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -Commit $commit -Confirm:$false } catch { $caught = $_ }
        $caught.FullyQualifiedErrorId | Should -Be 'ParameterNotForStrategy,DeploymentRollback.Commands.InvokeRollbackCommand'
        $caught.Exception.Message | Should -Match '-Commit.*-Mode Revert'
        Get-RepositorySnapshot $repo | Should -Be $before
    }

    It 'refuses the flag parameter -Flag with -Strategy Config' {
        $config = Join-Path $work 'app.yml'
        Set-Content $config 'feature: bad'
        { Get-RollbackAssessment -Strategy Config -Path $config -Flag NewCheckout } |
            Should -Throw -ErrorId 'ParameterNotForStrategy,DeploymentRollback.Commands.GetRollbackAssessmentCommand'
    }

    It 'takes New-RollbackCheckpoint -Name as the target''s name, never as the checkpoint''s' {
        { New-RollbackCheckpoint -Strategy Git -Path $repo -Name incident-1 } |
            Should -Throw -ErrorId 'ParameterNotForStrategy,DeploymentRollback.Commands.NewRollbackCheckpointCommand'
        $state | Should -Not -Exist
        (New-RollbackCheckpoint -Strategy Git -Path $repo -CheckpointName incident-1).Name | Should -Be 'incident-1'
    }

    It 'refuses an empty or blank -Target instead of using the default, and changes nothing' -ForEach @(@{ Value = '' }, @{ Value = '   ' }) {
        $before = Get-RepositorySnapshot $repo
        { Invoke-Rollback -Strategy Git -Path $repo -Target $Value -Confirm:$false } |
            Should -Throw -ErrorId 'TargetEmpty,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-RepositorySnapshot $repo | Should -Be $before
        $state | Should -Not -Exist
    }
}

Describe 'Script steps' {
    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $repo = New-TestRepository (Join-Path $work 'repo')
        $state = Join-Path $work 'state'
        $env:DEPLOYMENT_ROLLBACK_HOME = $state
    }

    AfterEach { $env:DEPLOYMENT_ROLLBACK_HOME = $null }

    It 'fails the restart when a native command in the -RestartScript block exits non-zero' {
        $result = Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -RestartScript { sh -c 'exit 4' } -Confirm:$false -WarningAction SilentlyContinue
        $result.Outcome | Should -Not -Be 'Succeeded'
        $restart = $result.Steps | Where-Object Name -Like 'Restart*'
        $restart.Status | Should -Be 'Failed'
        $restart.Message | Should -Match 'exit code 4'
    }

    It 'fails a script-block smoke test whose native command exits non-zero, with its exit code' {
        $report = Test-RollbackHealth -SmokeTest { sh -c 'exit 3' }
        $report.Healthy | Should -BeFalse
        $report.SmokeTests[0].ExitCode | Should -Be 3
    }

    It 'fails an Invoke-DeploymentRetry -ScriptBlock whose native command exits non-zero' {
        $attempt = Invoke-DeploymentRetry { sh -c 'exit 5' } -Delay 0 -MaxAttempts 1 -Confirm:$false -WarningAction SilentlyContinue
        $attempt.Outcome | Should -Not -Be 'Succeeded'
        $attempt.Steps[0].Message | Should -Match 'exit code 5'
    }

    It 'reports the exit code of a .ps1 smoke test' {
        $script = Join-Path $work 'smoke.ps1'
        Set-Content $script 'exit 3'
        $report = Test-RollbackHealth -SmokeTest $script
        $report.Healthy | Should -BeFalse
        $report.SmokeTests[0].ExitCode | Should -Be 3
    }

    It 'refuses a smoke-test file that is not executable, before anything changes' {
        $script = Join-Path $work 'smoke.sh'
        Set-Content $script "#!/bin/sh`nexit 0"
        $before = Get-RepositorySnapshot $repo
        { Invoke-Rollback -Strategy Git -Path $repo -Target v2.3.0 -SmokeTest $script -Confirm:$false } |
            Should -Throw -ErrorId 'ScriptNotExecutable,DeploymentRollback.Commands.InvokeRollbackCommand'
        Get-RepositorySnapshot $repo | Should -Be $before
        $state | Should -Not -Exist
    }

    It 'kills the restart executable and its children when the rollback is stopped (Ctrl+C)' {
        $restart = New-LingeringScript $work
        $shell = [PowerShell]::Create()
        try {
            $null = $shell.AddCommand('Import-Module').AddArgument($modulePath).AddStatement().
                AddCommand('Invoke-Rollback').AddParameter('Strategy', 'Git').AddParameter('Path', $repo).AddParameter('Target', 'v2.3.0').
                AddParameter('RestartScript', $restart).AddParameter('StateDirectory', $state).AddParameter('Confirm', $false)
            $running = $shell.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not ((Test-Path "$work/pids") -and (Get-Content -Raw "$work/pids") -match '^\d+ \d+')) {
                if ([DateTime]::UtcNow -gt $deadline) { throw "the restart script did not start: $($shell.Streams.Error)" }
                Start-Sleep -Milliseconds 50
            }
            $pids = (Get-Content -Raw "$work/pids").Trim() -split ' ' | ForEach-Object { [int] $_ }
            $shell.Stop()
            $running.AsyncWaitHandle.WaitOne(30000) | Should -BeTrue
        }
        finally { $shell.Dispose() }
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while (@($pids | Where-Object { Test-Path "/proc/$_" }).Count -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
        $alive = @($pids | Where-Object { Test-Path "/proc/$_" })
        $alive | ForEach-Object { Stop-Process -Id $_ -Force -ErrorAction SilentlyContinue }
        $alive | Should -BeNullOrEmpty -Because 'the restart script and the sleep it started must not outlive the rollback'
    }
}

Describe 'Default views at 80 columns' {
    BeforeAll {
        # Renders objects made in a fresh pwsh with the module's views, as an admin's 80-column console shows them.
        function Get-View {
            param([string] $Make)
            $child = Invoke-ChildPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath'
# The output types' assembly loads with the first command that runs.
`$null = Test-RollbackHealth -SmokeTest { `$true }
`$at = [DateTimeOffset]::new(2026, 3, 4, 5, 6, 7, [TimeSpan]::FromHours(2))
$Make | Out-String -Width 80
"@
            $child.Error | Should -BeNullOrEmpty
            $child.Output -split '\r?\n' | Where-Object Length -GT 80 | Should -BeNullOrEmpty
            $child.Output
        }
    }

    It 'shows target, time and reason of a rollback result (also a history row)' {
        $view = Get-View @'
[DeploymentRollback.RollbackResult] @{ Outcome = 'Failed'; Strategy = 'Kubernetes'; TargetKey = 'kubernetes:prod/shop/Deployment/web'
    StartedAt = $at; FromVersion = 'v2.3.1'; ToVersion = 'app=registry.example.com/shop:2.3.0'
    Message = 'The rollout did not finish within 300 s'; AttemptNumber = 2 }
'@
        $view | Should -Match 'kubernetes:prod/shop/Deployment/web'
        $view | Should -Match '2026-03-04 03:06:07'
        $view | Should -Match 'rollout did not'
        $view | Should -Match 'Failed'
        $view | Should -Match 'v2.3.1 -> app=registry.example.com/shop:2.3.0'
    }

    It 'shows target and reason of a -Selector Skipped row' {
        $view = Get-View @'
[DeploymentRollback.RollbackResult] @{ Outcome = 'Skipped'; Strategy = 'Kubernetes'; TargetKey = 'kubernetes:prod/shop/Deployment/cart'
    StartedAt = $at; Message = 'Not failing (available), so not rolled back; pass -All to roll back every matching workload.' }
'@
        $view | Should -Match 'kubernetes:prod/shop/Deployment/cart'
        $view | Should -Match 'Not failing'
        $view | Should -Match '2026-03-04 03:06:07'
    }

    It 'shows target, time and verdict of a health report' {
        $view = Get-View @'
[DeploymentRollback.HealthReport] @{ TargetKey = 'git:/srv/deployments/shop/checkout'; Version = 'v2.3.0'; CheckedAt = $at
    Checks = [System.Collections.Generic.List[DeploymentRollback.HealthCheckResult]] @([DeploymentRollback.HealthCheckResult] @{ Uri = 'http://127.0.0.1/health'; Passed = $false; Message = 'status 500' }) }
'@
        $view | Should -Match 'git:/srv/deployments/shop/checkout'
        $view | Should -Match '2026-03-04 03:06:07'
        $view | Should -Match 'status 500'
    }

    It 'shows the time, subject and data of a signal' {
        $view = Get-View @'
$data = [System.Collections.Generic.Dictionary[string, object]]::new()
$data['reason'] = 'Missing environment variable: API_KEY'
$data['rolled_back_to'] = 'v2.3.0'
[DeploymentRollback.RollbackSignal] @{ Name = 'MANUAL_INTERVENTION_REQUIRED'; Subject = 'git:/srv/deployments/shop/checkout'; Time = $at; Data = $data }
'@
        $view | Should -Match 'git:/srv/deployments/shop/checkout'
        $view | Should -Match '2026-03-04 03:06:07'
        $view | Should -Match 'API_KEY'
        $view | Should -Match 'rolled_back_to=v2.3.0'
        $view | Should -Match 'MANUAL_INTERVENTION_REQUIRED'
    }

    It 'prints checkpoint and verified-version times as yyyy-MM-dd HH:mm:ss UTC' {
        $view = Get-View @'
[DeploymentRollback.RollbackCheckpoint] @{ Name = 'incident-4711'; Strategy = 'Git'; CreatedAt = $at; Folder = '/state/checkpoints/incident-4711' }
'@
        $view | Should -Match '2026-03-04 03:06:07'
        $view | Should -Not -Match '03/04/2026'
    }
}
