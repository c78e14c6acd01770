# Shared state stores through the cmdlets, in fresh processes with no shared disk: a real PostgreSQL and Azurite,
# started by build.ps1 Test (DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT, DEPLOYMENT_ROLLBACK_TEST_AZURITE_PORT).
BeforeDiscovery {
    # In CI an absent component fails the run instead of skipping it.
    $required = $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -eq '1'
    $stores = @(
        @{ Kind = 'PostgreSQL'; Missing = -not $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT; Required = $required }
        @{ Kind = 'AzureBlob'; Missing = -not $env:DEPLOYMENT_ROLLBACK_TEST_AZURITE_PORT; Required = $required }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
    Import-Module $modulePath -Force
    $azuriteKey = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsu' + 'Fq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
    $psql = (Get-Command psql -ErrorAction SilentlyContinue).Source
    if (-not $psql) { $psql = Get-ChildItem /usr/lib/postgresql/*/bin/psql -ErrorAction SilentlyContinue | Select-Object -Last 1 -ExpandProperty FullName }

    # A store of its own for one test: a new database, or a new container.
    function New-TestStore([string] $Kind, [string] $Password) {
        $name = 't' + [guid]::NewGuid().ToString('N').Substring(0, 12)
        if ($Kind -eq 'PostgreSQL') {
            $port = $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT
            & $psql -h 127.0.0.1 -p $port -U postgres -d postgres -qc "CREATE DATABASE $name" | Out-Null
            if ($LASTEXITCODE) { throw "CREATE DATABASE $name failed" }
            $user = if ($Password) { "postgres:$Password" } else { 'postgres' }
            return "postgresql://$user@127.0.0.1:$port/$name"
        }
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$azuriteKey;BlobEndpoint=http://127.0.0.1:$($env:DEPLOYMENT_ROLLBACK_TEST_AZURITE_PORT)/devstoreaccount1;Container=$name"
    }

    # A worker with no shared disk: a fresh pwsh whose home (state folder) is a new temp folder.
    function Start-Worker([string] $Store, [string] $Script) {
        $workerHome = Join-Path ([IO.Path]::GetTempPath()) "dr-worker-$([guid]::NewGuid().ToString('N').Substring(0, 10))"
        $child = Start-ChildPwsh -Environment @{ DEPLOYMENT_ROLLBACK_STATE = $Store; DEPLOYMENT_ROLLBACK_HOME = $workerHome } -Script @"
`$ErrorActionPreference = 'Stop'
`$ProgressPreference = 'SilentlyContinue'
Import-Module '$modulePath'
$Script
"@
        $child | Add-Member -NotePropertyName Home -NotePropertyValue $workerHome -PassThru
    }

    function Invoke-Worker([string] $Store, [string] $Script) {
        $worker = Start-Worker $Store $Script
        $result = Wait-ChildPwsh $worker
        $result | Add-Member -NotePropertyName Home -NotePropertyValue $worker.Home -PassThru
    }

    # A worker that rolls the target back and then holds it (its restart step sleeps), once the store shows its lock.
    function Start-Holder([string] $Store, [string] $Config, [int] $Seconds) {
        $holder = Start-Worker $Store "Invoke-Rollback -Strategy Config -Path '$Config' -PreviousPath app.previous.yml -RestartScript { Start-Sleep $Seconds } -Confirm:`$false"
        $deadline = [DateTime]::UtcNow.AddSeconds(60)
        while (-not ($lock = Get-RollbackLock -StateStore $Store) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 100 }
        $holder | Add-Member -NotePropertyName Lock -NotePropertyValue $lock -PassThru
    }

    function New-ConfigTarget([string] $Folder) {
        New-Item -ItemType Directory -Force $Folder | Out-Null
        Set-Content (Join-Path $Folder 'app.yml') "replicas: 3`nimage: shop:v2`n"
        Set-Content (Join-Path $Folder 'app.previous.yml') "replicas: 3`nimage: shop:v1`n"
        Join-Path $Folder 'app.yml'
    }
}

Describe 'Shared state in <Kind>' -ForEach $stores {
    It 'a runbook run twice in fresh processes with fresh temp folders finds the first run''s verified-good version and counts escalation across runs (the Azure Automation case)' {
        if ($Missing -and -not $Required) { Set-ItResult -Skipped -Because "no $Kind for the tests (run them through build.ps1 Test)"; return }
        $Missing | Should -BeFalse -Because "$Kind must be running (build.ps1 Test starts it)"
        $password = 'Pw-' + [guid]::NewGuid().ToString('N')
        $store = New-TestStore $Kind $password
        $config = New-ConfigTarget (Join-Path $TestDrive "aa-$Kind")
        $good = Get-Content -Raw $config
        $server = Start-TestHttpServer -Status 200
        try {
            $first = Invoke-Worker $store "(Test-RollbackHealth -Strategy Config -Path '$config' -HealthCheckUri '$($server.Uri)' -RecordVerified).RecordedVerifiedVersion"
            $first.Error | Should -BeNullOrEmpty
            # A bad deployment of the file.
            Set-Content $config "replicas: 0`nimage: shop:v3`n"
            $second = Invoke-Worker $store "`$r = Invoke-Rollback -Strategy Config -Path '$config' -HealthCheckUri '$($server.Uri)' -Confirm:`$false; `"outcome=`$(`$r.Outcome)`""
            $second.Error | Should -BeNullOrEmpty
            $second.Output | Should -Match 'outcome=Succeeded'
            Get-Content -Raw $config | Should -Be $good
            $second.Home | Should -Not -Be $first.Home

            $repo = New-TestRepository (Join-Path $TestDrive "aa-$Kind-repo")
            $down = "http://127.0.0.1:$(Get-FreePort)/health"
            $outcomes = foreach ($i in 1..3) {
                (Invoke-Worker $store "(Invoke-Rollback Git v2.3.0 -Path '$repo' -HealthCheckUri '$down' -HealthCheckRetries 0 -Confirm:`$false 3>`$null).Outcome").Output.Trim()
            }
            $outcomes | Should -Be @('Failed', 'Failed', 'Escalated')
            $refused = Invoke-Worker $store "try { Invoke-Rollback Git v2.3.0 -Path '$repo' -Confirm:`$false; 'not refused' } catch { `$_.FullyQualifiedErrorId }"
            $refused.Output | Should -Match '^RollbackEscalated,'

            # The password of the store's address is in no file of any worker's folder, and in no output.
            foreach ($run in $first, $second, $refused) {
                "$($run.Output)$($run.Error)" | Should -Not -Match $password
                Get-ChildItem -Recurse -File $run.Home | Select-String -SimpleMatch $password -List | Should -BeNullOrEmpty
            }
            # Nor in the store itself.
            if ($Kind -eq 'PostgreSQL') {
                $dump = & (Join-Path (Split-Path $psql) 'pg_dump') -h 127.0.0.1 -p $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT -U postgres -d ($store -split '/')[-1]
                $LASTEXITCODE | Should -Be 0
                "$dump" | Should -Match 'verified'
                "$dump" | Should -Not -Match $password
            }
        }
        finally { Stop-TestHttpServer $server }
    }

    It '8 workers with no shared disk roll back 4 targets: one run per target at a time, every attempt journaled once, signals matching attempts' {
        if ($Missing -and -not $Required) { Set-ItResult -Skipped -Because "no $Kind for the tests (run them through build.ps1 Test)"; return }
        $Missing | Should -BeFalse -Because "$Kind must be running (build.ps1 Test starts it)"
        $store = New-TestStore $Kind
        $configs = foreach ($t in 1..4) { New-ConfigTarget (Join-Path $TestDrive "workers-$Kind/t$t") }
        $workers = foreach ($w in 0..7) {
            # Each worker takes the targets in its own order, so they meet on every target.
            $order = foreach ($i in 0..3) { "'$($configs[($i + $w) % 4])'" }
            Start-Worker $store @"
foreach (`$path in $($order -join ',')) {
    `$r = Invoke-Rollback -Strategy Config -Path `$path -PreviousPath app.previous.yml -LockTimeoutSec 120 -RestartScript { Start-Sleep -Milliseconds 200 } -Confirm:`$false
    "`$(`$r.TargetKey)=`$(`$r.Outcome)"
}
"@
        }
        $results = $workers | Wait-ChildPwsh
        foreach ($result in $results) {
            $result.Error | Should -BeNullOrEmpty
            $result.ExitCode | Should -Be 0
        }

        $attempts = @(Get-RollbackHistory -StateStore $store -Last 1000)
        $attempts.Count | Should -Be 32
        @($attempts.AttemptId | Sort-Object -Unique).Count | Should -Be 32
        foreach ($target in $attempts | Group-Object TargetKey) {
            $target.Count | Should -Be 8
            @($target.Group | Where-Object Outcome -EQ 'Succeeded').Count | Should -Be 1
            @($target.Group | Where-Object Outcome -EQ 'Skipped').Count | Should -Be 7
            $runs = $target.Group | Sort-Object StartedAt
            for ($i = 1; $i -lt $runs.Count; $i++) { $runs[$i].StartedAt | Should -BeGreaterOrEqual $runs[$i - 1].CompletedAt }
        }
        $signals = @(Get-RollbackSignal -StateStore $store)
        foreach ($attempt in $attempts | Where-Object Outcome -NE 'Skipped') {
            @($signals | Where-Object { $_.Data['attempt_id'] -eq $attempt.AttemptId } | ForEach-Object Name) | Should -Be @('ROLLBACK_STARTED', 'ROLLBACK_COMPLETE')
        }
        @($signals | Where-Object Name -EQ 'ROLLBACK_STARTED').Count | Should -Be 4
    }

    It 'a worker killed with kill -9 while holding a target does not wedge it: a waiting worker takes over and marks its attempt Interrupted' {
        if ($Missing -and -not $Required) { Set-ItResult -Skipped -Because "no $Kind for the tests (run them through build.ps1 Test)"; return }
        $Missing | Should -BeFalse -Because "$Kind must be running (build.ps1 Test starts it)"
        $store = New-TestStore $Kind
        $config = New-ConfigTarget (Join-Path $TestDrive "kill-$Kind")
        $holder = Start-Holder $store $config 300
        $lock = $holder.Lock
        $lock.HolderProcessId | Should -Be $holder.Process.Id
        $lock.HolderHost | Should -Be ([Environment]::MachineName)
        $waiter = Start-Worker $store "`$r = Invoke-Rollback -Strategy Config -Path '$config' -PreviousPath app.previous.yml -LockTimeoutSec 120 -Confirm:`$false -WarningVariable w 3>`$null; `"outcome=`$(`$r.Outcome)`"; `$w"
        Start-Sleep -Seconds 4
        $holder.Process.Kill()
        $killedAt = [DateTimeOffset]::UtcNow
        $result = Wait-ChildPwsh $waiter
        Wait-ChildPwsh $holder | Out-Null
        $result.Error | Should -BeNullOrEmpty
        $result.Output | Should -Match 'outcome=(Succeeded|Skipped)'
        $result.Output | Should -Match 'was interrupted'
        $history = @(Get-RollbackHistory -StateStore $store)
        ($history | Where-Object Outcome -EQ 'Interrupted').Count | Should -Be 1
        $taken = ($history | Where-Object Outcome -NE 'Interrupted' | Select-Object -First 1).StartedAt
        Write-Host "  $Kind lock hand-over after kill -9: $([int]($taken - $killedAt).TotalMilliseconds) ms (waiter attempt start minus kill time)"
    }

    It 'Get-RollbackLock names the holder, Unlock-RollbackTarget -Force breaks its lock, and the holder''s later records are refused' {
        if ($Missing -and -not $Required) { Set-ItResult -Skipped -Because "no $Kind for the tests (run them through build.ps1 Test)"; return }
        $Missing | Should -BeFalse -Because "$Kind must be running (build.ps1 Test starts it)"
        $store = New-TestStore $Kind
        $config = New-ConfigTarget (Join-Path $TestDrive "unlock-$Kind")
        $holder = Start-Holder $store $config 10
        $lock = $holder.Lock
        $lock | Should -Not -BeNullOrEmpty
        # The table view, at 80 columns: when, who (with the process to look for) and which target.
        $view = $lock | Out-String -Width 80
        $view | Should -Match ('{0} +{1}@{2} pid {3} +{4}' -f $lock.AcquiredAt.UtcDateTime.ToString('yyyy-MM-dd HH:mm:ss'), [regex]::Escape($lock.HolderUser), [regex]::Escape($lock.HolderHost), $holder.Process.Id, $lock.FencingToken)
        $view | Should -Match 'config:'

        Unlock-RollbackTarget -TargetKey $lock.TargetKey -StateStore $store -WhatIf
        (Get-RollbackLock -StateStore $store).FencingToken | Should -Be $lock.FencingToken
        $broken = Unlock-RollbackTarget -TargetKey $lock.TargetKey -StateStore $store -Force
        $broken.HolderProcessId | Should -Be $holder.Process.Id
        Get-RollbackLock -StateStore $store | Should -BeNullOrEmpty
        { Unlock-RollbackTarget -TargetKey $lock.TargetKey -StateStore $store -Force } | Should -Throw -ErrorId 'LockNotHeld,DeploymentRollback.Commands.UnlockRollbackTargetCommand'

        $result = Wait-ChildPwsh $holder
        $result.Error | Should -Match 'RollbackLockLost|no longer holds the lock'
    }

    It 'Copy-RollbackState moves a local state into the store once, and a fresh worker then rolls back from it' {
        if ($Missing -and -not $Required) { Set-ItResult -Skipped -Because "no $Kind for the tests (run them through build.ps1 Test)"; return }
        $Missing | Should -BeFalse -Because "$Kind must be running (build.ps1 Test starts it)"
        $store = New-TestStore $Kind
        $local = Join-Path $TestDrive "copy-$Kind/state"
        $config = New-ConfigTarget (Join-Path $TestDrive "copy-$Kind")
        $good = Get-Content -Raw $config
        $server = Start-TestHttpServer -Status 200
        try {
            Test-RollbackHealth -Strategy Config -Path $config -HealthCheckUri $server.Uri -RecordVerified -StateDirectory $local | Out-Null
            $copied = Copy-RollbackState -From $local -To $store -Confirm:$false
            $copied.VerifiedVersions | Should -Be 1
            $again = Copy-RollbackState -From $local -To $store -Confirm:$false
            ($again.Attempts + $again.VerifiedVersions + $again.Events + $again.Checkpoints + $again.Signals + $again.Reports) | Should -Be 0

            Set-Content $config "replicas: 0`n"
            $worker = Invoke-Worker $store "(Invoke-Rollback -Strategy Config -Path '$config' -Confirm:`$false).Outcome"
            $worker.Error | Should -BeNullOrEmpty
            $worker.Output.Trim() | Should -Be 'Succeeded'
            Get-Content -Raw $config | Should -Be $good
        }
        finally { Stop-TestHttpServer $server }
    }
}

Describe 'Two jobs in one process, each on its own shared store' {
    It 'keep their state apart: escalation in the PostgreSQL store does not reach the job on the blob store' {
        if (-not $env:DEPLOYMENT_ROLLBACK_TEST_POSTGRES_PORT -or -not $env:DEPLOYMENT_ROLLBACK_TEST_AZURITE_PORT) {
            if ($env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -eq '1') { throw 'PostgreSQL and Azurite must be running (build.ps1 Test starts them)' }
            Set-ItResult -Skipped -Because 'no PostgreSQL or Azurite for the tests'
            return
        }
        $storeA = New-TestStore 'PostgreSQL'
        $storeB = New-TestStore 'AzureBlob'
        $repo = New-TestRepository (Join-Path $TestDrive 'jobs/repo')
        $down = "http://127.0.0.1:$(Get-FreePort)/health"
        $server = Start-TestHttpServer -Status 200
        $jobs = @()
        try {
            $jobs = 'A', 'B' | ForEach-Object { New-TestJob $modulePath }
            $homeA = Join-Path $TestDrive 'jobs/home-a'
            $homeB = Join-Path $TestDrive 'jobs/home-b'
            $outcomesA = Invoke-TestJob $jobs[0] { param($repo, $store, $state, $uri) foreach ($i in 1..3) { (Invoke-Rollback Git v2.3.0 -Path $repo -StateStore $store -StateDirectory $state -HealthCheckUri $uri -HealthCheckRetries 0 -Confirm:$false).Outcome } } @($repo, $storeA, $homeA, $down)
            Invoke-TestGit $repo checkout --quiet v2.3.1 | Out-Null
            $outcomeB = Invoke-TestJob $jobs[1] { param($repo, $store, $state, $uri) (Invoke-Rollback Git v2.3.0 -Path $repo -StateStore $store -StateDirectory $state -HealthCheckUri $uri -Confirm:$false).Outcome } @($repo, $storeB, $homeB, $server.Uri)
            @($outcomesA | ForEach-Object ToString) | Should -Be @('Failed', 'Failed', 'Escalated')
            "$($outcomeB[0])" | Should -Be 'Succeeded'
            @(Get-RollbackHistory -StateStore $storeA -StateDirectory $homeA).Count | Should -Be 3
            @(Get-RollbackHistory -StateStore $storeB -StateDirectory $homeB).Count | Should -Be 1
        }
        finally {
            $jobs | ForEach-Object { $_.Dispose() }
            Stop-TestHttpServer $server
        }
    }
}
