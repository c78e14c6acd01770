# The state folder under faults, and signals: every failure has an error id, readers skip what is not theirs.

BeforeDiscovery {
    # Mounts (a read-only folder) need root on Linux; CI (DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION=1) runs them regardless, and fails.
    $script:mountSkip = $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1' -and -not ($IsLinux -and (id -u) -eq '0')
}

Describe 'State folder under faults' {
    BeforeAll {
        Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
        Import-Module (Get-TestModulePath) -Force
        $modulePath = Get-TestModulePath
        $healthy = Start-TestHttpServer -Status 200

        # A fresh pwsh with the module, killed when it does not finish in time (a read that blocks must fail the test, not hang it).
        function Invoke-StateChild {
            param([Parameter(Mandatory)] [string] $Script, [int] $TimeoutSec = 60)
            $file = Join-Path $TestDrive "child-$([Guid]::NewGuid().ToString('N')).ps1"
            Set-Content $file "`$ErrorActionPreference = 'Stop'; `$ProgressPreference = 'SilentlyContinue'; Import-Module '$modulePath'`n$Script"
            $pwsh = Get-PwshCommand
            $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
            foreach ($argument in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $file)) { $info.ArgumentList.Add($argument) }
            $info.RedirectStandardOutput = $true
            $info.RedirectStandardError = $true
            $info.Environment['NO_COLOR'] = '1'
            $process = [Diagnostics.Process]::Start($info)
            $stdout = $process.StandardOutput.ReadToEndAsync()
            $stderr = $process.StandardError.ReadToEndAsync()
            $finished = $process.WaitForExit($TimeoutSec * 1000)
            if (-not $finished) { $process.Kill($true); $process.WaitForExit() }
            [pscustomobject]@{ Finished = $finished; ExitCode = $process.ExitCode; Output = $stdout.Result; Error = $stderr.Result }
        }
    }

    AfterAll {
        Stop-TestHttpServer $healthy
    }

    BeforeEach {
        $work = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $state = Join-Path $work 'state'
        $null = New-Item -ItemType Directory -Force $work
    }

    Context 'Send-RollbackSignal' {
        It 'refuses a target key with a line break with an error id, and writes nothing' {
            { Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -TargetKey "git:/srv/app`nrm -rf /" -Reason x } |
                Should -Throw -ErrorId 'SignalTargetKeyInvalid,DeploymentRollback.Commands.SendRollbackSignalCommand'
            @(Get-ChildItem (Join-Path $state 'signals') -ErrorAction SilentlyContinue) | Should -HaveCount 0
        }

        It 'stores nested -Data as nested JSON, secrets redacted at every level' {
            $signal = Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -Data @{
                build = @{ number = 42; stages = @('test', 'deploy'); db = @{ password = 'hunter2'; host = 'db1' } }
                tags  = @('a', 'b')
            }
            $json = Get-Content $signal.FilePath -Raw | ConvertFrom-Json
            $json.data.build.number | Should -Be 42
            $json.data.build.stages | Should -Be @('test', 'deploy')
            $json.data.build.db.host | Should -Be 'db1'
            $json.data.build.db.password | Should -Be '***REDACTED***'
            $json.data.tags | Should -Be @('a', 'b')
            Get-Content $signal.FilePath -Raw | Should -Not -Match 'hunter2|Hashtable'

            $read = Get-RollbackSignal -StateDirectory $state
            $read.Data['build']['number'] | Should -Be 42
            $read.Data['build']['stages'] | Should -Be @('test', 'deploy')
        }

        It 'refuses -Data that contains itself or is too large to be read back, and writes nothing' {
            $loop = @{ name = 'loop' }
            $loop.self = $loop
            { Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -Data $loop } |
                Should -Throw -ErrorId 'SignalDataInvalid,DeploymentRollback.Commands.SendRollbackSignalCommand'
            { Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -Data @{ log = 'x' * 2MB } } |
                Should -Throw -ErrorId 'SignalDataInvalid,DeploymentRollback.Commands.SendRollbackSignalCommand'
            @(Get-ChildItem (Join-Path $state 'signals') -ErrorAction SilentlyContinue) | Should -HaveCount 0
        }

        It 'never shows webhook credentials, and sends user:password as Basic authentication' {
            $port = Get-FreePort
            $uri = "http://deployer:s3cretpw@127.0.0.1:$port/hook?token=tok987&team=ops"
            $caught = $null
            try { Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -TargetKey 'git:/srv/app' -WebhookUri $uri -Reason x } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'SignalWebhookFailed,DeploymentRollback.Commands.SendRollbackSignalCommand'
            # Kind and host only: a webhook's path is often its secret (a Slack hook's last segment).
            $caught.Exception.Message | Should -Match "http://127\.0\.0\.1:$port/\.\.\. could not be reached"
            $caught.Exception.Message | Should -Not -Match 's3cretpw|tok987|deployer|/hook'
            $whatIf = Invoke-StateChild "Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory '$state' -WebhookUri '$uri' -WhatIf"
            $whatIf.Output | Should -Match 'POST it to'
            $whatIf.Output | Should -Not -Match 's3cretpw|tok987'
            Get-ChildItem $state -Recurse -File | Select-String -Pattern 's3cretpw|tok987' | Should -BeNullOrEmpty

            $receiver = Start-TestHttpServer -Authorization ('Basic ' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes('deployer:s3cret pw')))
            try {
                $sent = Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -WebhookUri "http://deployer:s3cret%20pw@127.0.0.1:$($receiver.Port)/hook" -Reason x
                $sent.WebhookStatusCode | Should -Be 200
            }
            finally { Stop-TestHttpServer $receiver }
        }

        It 'keeps webhook credentials out of the warnings of a rollback' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $port = Get-FreePort
            $result = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false -WebhookUri "http://deployer:s3cretpw@127.0.0.1:$port/?api_key=k3y987" -WarningVariable warnings -WarningAction SilentlyContinue
            $result.Outcome | Should -Be 'Succeeded'
            $warnings | Should -Not -BeNullOrEmpty
            ($warnings -join "`n") | Should -Not -Match 's3cretpw|k3y987'
        }
    }

    Context 'Readers' {
        It 'Get-RollbackSignal skips a pipe, a foreign file and an invalid data_base64 with a warning naming each' {
            $good = Send-RollbackSignal DEPLOYMENT_FAILED -StateDirectory $state -Reason 'kept'
            $signals = Join-Path $state 'signals'
            mkfifo (Join-Path $signals 'zz-pipe.json')
            Set-Content (Join-Path $signals 'zz-base64.json') '{"specversion":"1.0","id":"x","source":"urn:x","type":"io.deploymentrollback.signal.DEPLOYMENT_FAILED","data_base64":"!!!"}'
            Set-Content (Join-Path $signals 'zz-foreign.json') '{"hello":"world"}'
            $child = Invoke-StateChild -TimeoutSec 30 @"
`$signals = Get-RollbackSignal -StateDirectory '$state' -WarningVariable warnings -WarningAction SilentlyContinue
"count=`$(@(`$signals).Count) id=`$(`$signals.Id)"
`$warnings | ForEach-Object { "warning=`$_" }
"@
            $child.Finished | Should -BeTrue -Because 'a FIFO must not be opened'
            $child.Error | Should -BeNullOrEmpty
            $child.Output | Should -Match "count=1 id=$($good.Id)"
            foreach ($name in 'zz-pipe.json', 'zz-base64.json', 'zz-foreign.json') {
                $child.Output | Should -Match "warning=Skipped '[^']*$([regex]::Escape($name))'"
            }
        }

        It 'a rollback is not broken by a signal file with an invalid data_base64' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $null = New-Item -ItemType Directory -Force (Join-Path $state 'signals')
            Set-Content (Join-Path $state 'signals/bad.json') '{"specversion":"1.0","id":"x","source":"urn:x","type":"io.deploymentrollback.signal.DEPLOYMENT_FAILED","data_base64":"!!!"}'
            $result = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false -HealthCheckUri $healthy.Uri
            $result.Outcome | Should -Be 'Succeeded'
            $result.ToVersion | Should -Be 'v2.3.0'
        }

        It 'Get-RollbackCheckpoint skips a corrupt manifest with a warning naming it and lists the rest' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $good = New-RollbackCheckpoint -Strategy Git -Path $repo -StateDirectory $state -CheckpointName good
            $bad = New-Item -ItemType Directory (Join-Path $state 'checkpoints/bad')
            Set-Content (Join-Path $bad 'manifest.json') 'garbage'
            $listed = Get-RollbackCheckpoint -StateDirectory $state -WarningVariable warnings -WarningAction SilentlyContinue
            @($listed).Name | Should -Be @('good')
            $warnings | Should -HaveCount 1
            "$warnings" | Should -Match ([regex]::Escape($bad.FullName))
        }

        It 'Get-RollbackCheckpoint names a checkpoint cut short by a killed process, but not one being written now' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $null = New-RollbackCheckpoint -Strategy Git -Path $repo -StateDirectory $state -CheckpointName good
            $killed = New-Item -ItemType Directory (Join-Path $state 'checkpoints/pre-rollback-killed')
            Set-Content (Join-Path $killed 'app.yml') 'half'
            $killed.LastWriteTimeUtc = [DateTime]::UtcNow.AddHours(-1)
            $writing = New-Item -ItemType Directory (Join-Path $state 'checkpoints/pre-rollback-writing')
            $folderManifest = New-Item -ItemType Directory (Join-Path $state 'checkpoints/odd/manifest.json')

            $listed = Get-RollbackCheckpoint -StateDirectory $state -WarningVariable warnings -WarningAction SilentlyContinue
            @($listed).Name | Should -Be @('good')
            $warnings | Should -HaveCount 2
            "$warnings" | Should -Match "$([regex]::Escape($killed.FullName))'.*killed while writing it.*delete the folder"
            "$warnings" | Should -Match "odd'.*is a folder"
            "$warnings" | Should -Not -Match ([regex]::Escape($writing.FullName))
        }

        It 'Get-RollbackHistory reports a corrupt journal by id, naming the file' {
            $null = New-Item -ItemType Directory -Force $state
            Set-Content (Join-Path $state 'journal.db') ('not a database ' * 300)
            $caught = $null
            try { Get-RollbackHistory -StateDirectory $state } catch { $caught = $_ }
            $caught.FullyQualifiedErrorId | Should -Be 'JournalCorrupt,DeploymentRollback.Commands.GetRollbackHistoryCommand'
            $caught.Exception.Message | Should -Match ([regex]::Escape((Join-Path $state 'journal.db')))
        }
    }

    It 'refuses an emptied journal and another program''s database by id, and leaves both as they are' {
        # An escalated target whose journal is truncated, or replaced by a foreign database, must not be rolled back as
        # if it had no history.
        $repo = New-TestRepository (Join-Path $work 'repo')
        $null = New-Item -ItemType Directory -Force $state
        $journal = Join-Path $state 'journal.db'
        $null = New-Item -ItemType File $journal
        { Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'JournalCorrupt,DeploymentRollback.Commands.InvokeRollbackCommand' -ExpectedMessage '*empty*'
        (Get-Item $journal).Length | Should -Be 0

        Remove-Item $journal
        & python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('CREATE TABLE inventory(sku TEXT)'); c.commit()" $journal
        { Get-RollbackHistory -StateDirectory $state } |
            Should -Throw -ErrorId 'JournalCorrupt,DeploymentRollback.Commands.GetRollbackHistoryCommand' -ExpectedMessage '*another program*'
        & python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT group_concat(name) FROM sqlite_master').fetchone()[0])" $journal |
            Should -Be 'inventory'
        Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.1)
    }

    Context 'Checkpoint names' {
        It 'default names reserved by several processes at once never share a folder' {
            $starts = foreach ($i in 1..4) {
                $config = Join-Path $work "app$i.yml"
                Set-Content $config "instance: $i"
                $file = Join-Path $TestDrive "reserve-$i-$([Guid]::NewGuid().ToString('N')).ps1"
                Set-Content $file @"
`$ErrorActionPreference = 'Stop'
Import-Module '$modulePath'
foreach (`$n in 1..25) { (New-RollbackCheckpoint -Strategy Config -Path '$config' -StateDirectory '$state').Name }
"@
                $pwsh = Get-PwshCommand
                $info = [Diagnostics.ProcessStartInfo]::new($pwsh[0])
                foreach ($argument in @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', $file)) { $info.ArgumentList.Add($argument) }
                $info.RedirectStandardOutput = $true
                $info.RedirectStandardError = $true
                $process = [Diagnostics.Process]::Start($info)
                [pscustomobject]@{ Process = $process; Output = $process.StandardOutput.ReadToEndAsync(); Error = $process.StandardError.ReadToEndAsync() }
            }
            $names = foreach ($start in $starts) {
                $start.Process.WaitForExit(180000) | Should -BeTrue
                $start.Error.Result | Should -BeNullOrEmpty
                $start.Output.Result -split "`n" | Where-Object { $_.Trim() } | ForEach-Object Trim
            }

            $names | Should -HaveCount 100
            @($names | Sort-Object -Unique) | Should -HaveCount 100
            foreach ($folder in Get-ChildItem (Join-Path $state 'checkpoints') -Directory) {
                $manifest = Get-Content (Join-Path $folder.FullName 'manifest.json') -Raw | ConvertFrom-Json
                @(Get-ChildItem $folder.FullName -File | Where-Object Name -ne 'manifest.json').Name | Should -Be @($manifest.Artefacts) -Because "$($folder.Name) holds one target's files"
            }
        }
    }

    Context 'Faults of the folder itself' -Skip:$mountSkip {
        BeforeAll {
            # A folder made read-only for the duration of a script block (a bind mount onto itself, so even root cannot write).
            function Use-ReadOnlyFolder {
                param([string] $Path, [scriptblock] $Script)
                mount --bind $Path $Path
                try {
                    mount -o 'remount,ro,bind' $Path
                    & $Script
                }
                finally { umount -l $Path }
            }
        }

        It 'a read-only state folder stops a rollback at once with StateReadOnly, not after the lock timeout' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $null = Get-RollbackHistory -StateDirectory $state
            $clock = [Diagnostics.Stopwatch]::StartNew()
            $caught = Use-ReadOnlyFolder $state {
                try { $null = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false -LockTimeoutSec 30 } catch { $_ }
            }
            $clock.Elapsed.TotalSeconds | Should -BeLessThan 10
            $caught.FullyQualifiedErrorId | Should -Be 'StateReadOnly,DeploymentRollback.Commands.InvokeRollbackCommand'
            $caught.Exception.Message | Should -Match ([regex]::Escape((Join-Path $state 'locks')))
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.1)
        }

        It 'a checkpoints folder that cannot be written stops each rerun with StateReadOnly, never escalates, and the mended folder lets the rollback run' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $null = Get-RollbackHistory -StateDirectory $state
            $checkpoints = Join-Path $state 'checkpoints'
            New-Item -ItemType Directory -Force $checkpoints | Out-Null
            $caught = Use-ReadOnlyFolder $checkpoints {
                # Four reruns: before, the third was Escalated with MANUAL_INTERVENTION_REQUIRED and the fourth refused.
                foreach ($run in 1..4) {
                    try { $null = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false -WarningAction SilentlyContinue; 'no error' } catch { $_ }
                }
            }
            $caught | Should -HaveCount 4
            foreach ($error in $caught) {
                $error.FullyQualifiedErrorId | Should -Be 'StateReadOnly,DeploymentRollback.Commands.InvokeRollbackCommand'
                $error.Exception.Message | Should -Match ([regex]::Escape($checkpoints))
            }
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.1)
            (Get-RollbackHistory -StateDirectory $state).Outcome | Should -Be @('Failed', 'Failed', 'Failed', 'Failed')
            Get-RollbackSignal -Name MANUAL_INTERVENTION_REQUIRED -StateDirectory $state | Should -BeNullOrEmpty

            $mended = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false
            $mended.Outcome | Should -Be 'Succeeded'
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
        }

        It 'a read-only snapshots or reports folder is StateReadOnly naming it, and nothing is recorded verified-good without its snapshot' {
            $config = Join-Path $work 'app.yml'
            Set-Content $config 'release: 1'
            $null = Get-RollbackHistory -StateDirectory $state
            $snapshots = Join-Path $state 'snapshots'
            $reports = Join-Path $state 'reports'
            New-Item -ItemType Directory -Force $snapshots, $reports | Out-Null
            $caught = Use-ReadOnlyFolder $snapshots {
                try { Test-RollbackHealth -Strategy Config -Path $config -SmokeTest { $true } -RecordVerified -StateDirectory $state } catch { $_ }
            }
            $caught.FullyQualifiedErrorId | Should -Be 'StateReadOnly,DeploymentRollback.Commands.TestRollbackHealthCommand'
            $caught.Exception.Message | Should -Match ([regex]::Escape($snapshots))
            Get-RollbackHistory -Verified -StateDirectory $state | Should -BeNullOrEmpty

            $null = Test-RollbackHealth -Strategy Config -Path $config -SmokeTest { $true } -RecordVerified -StateDirectory $state
            Set-Content $config 'release: 2'
            $result = Invoke-Rollback -Strategy Config -Path $config -StateDirectory $state -Confirm:$false
            $result.Outcome | Should -Be 'Succeeded'
            $caught = Use-ReadOnlyFolder $reports {
                try { New-RollbackIncidentReport -AttemptId $result.AttemptId -StateDirectory $state } catch { $_ }
            }
            $caught.FullyQualifiedErrorId | Should -Be 'StateReadOnly,DeploymentRollback.Commands.NewRollbackIncidentReportCommand'
            $caught.Exception.Message | Should -Match ([regex]::Escape($reports))
        }

        It 'a rollback that could not write its signals keeps its real outcome and warns' {
            $repo = New-TestRepository (Join-Path $work 'repo')
            $null = Get-RollbackHistory -StateDirectory $state
            $signals = Join-Path $state 'signals'
            $result, $warnings = Use-ReadOnlyFolder $signals {
                $result = Invoke-Rollback -Strategy Git -Path $repo -StateDirectory $state -Confirm:$false -HealthCheckUri $healthy.Uri -WarningVariable warnings -WarningAction SilentlyContinue
                $result, @($warnings)
            }
            $result.Outcome | Should -Be 'Succeeded'
            $result.Verification | Should -Be 'Passed'
            $result.Signals | Should -BeNullOrEmpty
            Get-TestHead $repo | Should -Be (Get-TestTagCommit $repo v2.3.0)
            "$warnings" | Should -Match 'ROLLBACK_STARTED'
            "$warnings" | Should -Match 'ROLLBACK_COMPLETE'
            "$warnings" | Should -Match ([regex]::Escape($signals))
            (Get-RollbackHistory -StateDirectory $state).Outcome | Should -Be 'Succeeded'
        }
    }
}
