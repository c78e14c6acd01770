BeforeDiscovery {
    # Debian's prometheus-alertmanager posts the real webhook; without it that test skips, except in CI, where it must fail.
    $skipAlertmanager = -not (Get-Command prometheus-alertmanager -ErrorAction SilentlyContinue) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
    $formats = @(
        @{ File = 'azure-metric-fired.json'; Format = 'AzureMonitor'; Names = @('HEALTH_CHECK_FAILED'); Subjects = @('plan:checkout'); Acts = @($true) }
        @{ File = 'azure-metric-resolved.json'; Format = 'AzureMonitor'; Names = @('HEALTH_CHECK_FAILED'); Subjects = @('plan:checkout'); Acts = @($false) }
        @{ File = 'azure-log-fired.json'; Format = 'AzureMonitor'; Names = @('DEPLOYMENT_FAILED'); Subjects = @('plan:orders'); Acts = @($true) }
        @{ File = 'alertmanager-resolved.json'; Format = 'Alertmanager'; Names = @('HEALTH_CHECK_FAILED'); Subjects = @('plan:checkout'); Acts = @($false) }
        @{ File = 'grafana-firing.json'; Format = 'Grafana'; Names = @('HEALTH_CHECK_FAILED', 'HEALTH_CHECK_FAILED'); Subjects = @('plan:search', 'plan:search'); Acts = @($true, $false) }
        @{ File = 'cloudevent-structured.json'; Format = 'CloudEvents'; Names = @('DEPLOYMENT_FAILED'); Subjects = @('plan:payments'); Acts = @($true) }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $modulePath = Get-TestModulePath
    Import-Module $modulePath -Force
    $samples = Join-Path $PSScriptRoot '../Fixtures/alerts'
    function Get-Sample([string] $name) { Get-Content -Raw (Join-Path $samples $name) }

    # A fresh, empty state folder for one test.
    function New-TestState { Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8)) }

    function Get-SignalFile([string] $state) { @(Get-ChildItem (Join-Path $state 'signals') -Filter *.json -ErrorAction SilentlyContinue) }
}

Describe 'ConvertFrom-RollbackAlert reads every format' {
    It 'converts <File> (<Format>) without a map: the service label names the plan' -ForEach $formats {
        $signals = @(Get-Sample $File | ConvertFrom-RollbackAlert -ErrorAction Stop)

        $signals | Should -HaveCount $Names.Count
        $signals.Name | Should -Be $Names
        $signals.Subject | Should -Be $Subjects
        $signals | ForEach-Object { $_.Data.source_format } | Should -Be (@($Format) * $Names.Count)
        $signals | ForEach-Object { $_.Data.act } | Should -Be $Acts
        $signals | ForEach-Object { $_.Data.status } | Should -Be ($Acts | ForEach-Object { if ($_) { 'firing' } else { 'resolved' } })
        $signals | ForEach-Object { $_.FilePath } | Should -Be (@('') * $Names.Count)
        $signals | ForEach-Object { $_.Type } | Should -Be ($Names | ForEach-Object { "io.deploymentrollback.signal.$_" })
        $signals | ForEach-Object { $_.Data.reason } | Should -Not -BeNullOrEmpty
        $signals[0] | Should -BeOfType ([DeploymentRollback.RollbackSignal])
    }

    It 'converts an Alertmanager group of two: each alert with its own target, reason and signal name' {
        $signals = @(Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -Map @{ 'namespace=shop,deployment=web' = 'kubernetes:prod/shop/deployment/web'; 'service=checkout' = 'checkout' })

        $signals.Name | Should -Be 'HEALTH_CHECK_FAILED', 'DEPLOYMENT_FAILED'
        $signals.Subject | Should -Be 'plan:checkout', 'kubernetes:prod/shop/deployment/web'
        $signals[0].Data.reason | Should -Be 'Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2'
        $signals[0].Data.fingerprint | Should -Be '4f9a0c2d81e6b357'
        $signals[0].Data.group_key | Should -Be '{}/{env="prod"}:{env="prod"}'
        $signals[0].Data.labels.cluster | Should -Be 'eu-west'
        $signals[0].Data.severity | Should -Be 'critical'
        $signals[0].Data.starts_at | Should -Be '2026-03-04T09:14:05.318Z'
        $signals[1].Data.alert_name | Should -Be 'KubeDeploymentRolloutStuck'
    }

    It 'reads the lines of a file piped one by one as one payload, and several whole payloads one by one' {
        @(Get-Content (Join-Path $samples 'alertmanager-resolved.json') | ConvertFrom-RollbackAlert).Subject | Should -Be 'plan:checkout'
        $both = @((Get-Sample 'alertmanager-resolved.json'), (Get-Sample 'azure-log-fired.json') | ConvertFrom-RollbackAlert)
        $both.Subject | Should -Be 'plan:checkout', 'plan:orders'
    }

    It 'converts a binary CloudEvent from its headers and body' {
        $headers = Get-Sample 'cloudevent-binary.headers.json' | ConvertFrom-Json -AsHashtable

        $signal = ConvertFrom-RollbackAlert (Get-Sample 'cloudevent-binary.body.json') -Header $headers

        $signal.Name | Should -Be 'HEALTH_CHECK_FAILED'
        $signal.Subject | Should -Be 'plan:inventory'
        $signal.Data.act | Should -BeFalse
        $signal.Data.group_key | Should -Be 'c3a9e0b4-7d21-4f6e-8b5a-91d0e2f4c736'
        $signal.Data.labels.subject | Should -Be 'inventory-sync'
    }

    It 'converts a payload already converted from JSON' {
        $signal = Get-Sample 'cloudevent-structured.json' | ConvertFrom-Json | ConvertFrom-RollbackAlert

        $signal.Name | Should -Be 'DEPLOYMENT_FAILED'
        $signal.Data.labels.environment | Should -Be 'prod'
    }

    It 'sends every alert to -TargetKey, and -SignalName names them all' {
        $signals = @(Get-Sample 'grafana-firing.json' | ConvertFrom-RollbackAlert -TargetKey 'git:/srv/search' -SignalName USER_REPORTED_ISSUE)

        $signals.Subject | Should -Be 'git:/srv/search', 'git:/srv/search'
        $signals.Name | Should -Be 'USER_REPORTED_ISSUE', 'USER_REPORTED_ISSUE'
    }
}

Describe 'An Azure Automation runbook''s $WebhookData' {
    BeforeAll {
        # The runbook a user would write: the same on the PowerShell 5.1 and 7 runtimes.
        $runbook = Join-Path $TestDrive 'Invoke-AlertRollback.ps1'
        Set-Content $runbook @'
param([object] $WebhookData)
$ErrorActionPreference = 'Stop'
ConvertFrom-RollbackAlert -WebhookData $WebhookData
'@
        $body = Get-Sample 'azure-metric-fired.json'
    }

    It 'is read as <Name>' -ForEach @(
        @{ Name = 'an object with a PSCustomObject RequestHeader (PowerShell 5.1)'; Form = 'object' }
        @{ Name = 'a hashtable'; Form = 'hashtable' }
        @{ Name = 'JSON text (a test run from the portal)'; Form = 'json' }
        @{ Name = 'the PowerShell 7 runtime''s unquoted text'; Form = 'ps7' }
    ) {
        $webhookData = switch ($Form) {
            'object' { [pscustomobject]@{ WebhookName = 'rollback-alerts'; RequestBody = $body; RequestHeader = [pscustomobject]@{ Host = 'x.webhook.weu.azure-automation.net'; 'Content-Type' = 'application/json' } } }
            'hashtable' { @{ WebhookName = 'rollback-alerts'; RequestBody = $body; RequestHeader = @{ Host = 'x.webhook.weu.azure-automation.net' } } }
            'json' { Get-Sample 'azure-webhookdata.json' }
            'ps7' { Get-Sample 'azure-webhookdata-ps7.txt' }
        }

        $signal = & $runbook -WebhookData $webhookData

        $signal.Name | Should -Be 'HEALTH_CHECK_FAILED'
        $signal.Subject | Should -Be 'plan:checkout'
        $signal.Data.alert_name | Should -Be 'checkout-http-5xx'
        $signal.Data.labels.resource | Should -Be 'checkout-web'
        $signal.Data.act | Should -BeTrue
    }

    It 'is read when piped as the input object too' {
        (Get-Sample 'azure-webhookdata-ps7.txt' | ConvertFrom-RollbackAlert).Data.alert_name | Should -Be 'checkout-http-5xx'
        ([pscustomobject]@{ WebhookName = 'w'; RequestBody = (Get-Sample 'azure-metric-resolved.json') } | ConvertFrom-RollbackAlert).Data.status | Should -Be 'resolved'
    }

    It 'without a RequestBody is refused with AlertPayloadInvalid' {
        { ConvertFrom-RollbackAlert -WebhookData ([pscustomobject]@{ WebhookName = 'w' }) -ErrorAction Stop } |
            Should -Throw -ErrorId 'AlertPayloadInvalid,DeploymentRollback.Commands.ConvertFromRollbackAlertCommand'
    }
}

Describe 'Signals piped to Send-RollbackSignal' {
    It 'are written to the state folder and read back by Get-RollbackSignal' {
        $state = New-TestState

        $written = @(Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -Map @{ 'deployment=web' = 'plan:web'; 'service=checkout' = 'plan:checkout' } | Send-RollbackSignal -StateDirectory $state)

        $written | Should -HaveCount 2
        $written | ForEach-Object { $_.FilePath | Should -Exist }
        $read = @(Get-RollbackSignal -StateDirectory $state)
        $read.Name | Should -Be 'HEALTH_CHECK_FAILED', 'DEPLOYMENT_FAILED'
        $read.Subject | Should -Be 'plan:checkout', 'plan:web'
        $read[0].Data.reason | Should -Be 'Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2'
        $read[0].Data.act | Should -BeTrue
        $read[0].Data.labels.service | Should -Be 'checkout'
        $read[1].Data.fingerprint | Should -Be 'a1d27e95c03b4f68'
        @(Get-RollbackSignal -StateDirectory $state -TargetKey plan:web) | Should -HaveCount 1
    }

    It 'land in the default state folder when Send-RollbackSignal is given none' {
        $state = New-TestState
        $env:DEPLOYMENT_ROLLBACK_HOME = $state
        try {
            $signal = Get-Sample 'alertmanager-resolved.json' | ConvertFrom-RollbackAlert
            $signal.StateDirectory | Should -Be ([IO.Path]::GetFullPath($state))
            $null = $signal | Send-RollbackSignal
        }
        finally { Remove-Item Env:DEPLOYMENT_ROLLBACK_HOME }

        (Get-RollbackSignal -StateDirectory $state).Data.status | Should -Be 'resolved'
    }

    It 'of a resolved alert are recorded but never taken as the failure; a firing one is' {
        $state = New-TestState
        $repo = New-TestRepository (Join-Path $TestDrive 'resolved-repo')
        $target = (Get-RollbackAssessment -Strategy Git -Path $repo -StateDirectory $state).TargetKey

        $null = Get-Sample 'alertmanager-resolved.json' | ConvertFrom-RollbackAlert -TargetKey $target | Send-RollbackSignal -StateDirectory $state
        $afterResolved = Get-RollbackAssessment -Strategy Git -Path $repo -StateDirectory $state
        $null = Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -TargetKey $target | Select-Object -First 1 | Send-RollbackSignal -StateDirectory $state
        $afterFiring = Get-RollbackAssessment -Strategy Git -Path $repo -StateDirectory $state

        @(Get-RollbackSignal -StateDirectory $state -TargetKey $target) | Should -HaveCount 2
        $afterResolved.FailureType | Should -Be 'Unknown'
        $afterResolved.FailureReason | Should -BeNullOrEmpty
        $afterFiring.FailureType | Should -Be 'HealthCheckFailed'
        $afterFiring.FailureReason | Should -Be 'Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2'
    }
}

Describe 'Bad input' {
    BeforeAll {
        $fqid = ',DeploymentRollback.Commands.ConvertFromRollbackAlertCommand'
    }

    It 'gives <Id> for <Name> and writes nothing' -ForEach @(
        @{ Name = 'text that is not JSON'; Id = 'AlertPayloadInvalid'; Body = 'service checkout is down' }
        @{ Name = 'an empty body'; Id = 'AlertPayloadInvalid'; Body = '' }
        @{ Name = 'a cut-off body'; Id = 'AlertPayloadInvalid'; Body = '{"version": "4", "groupKey": "g", "alerts": [' }
        @{ Name = 'JSON of no alert format'; Id = 'AlertFormatUnknown'; Body = '{"text": "checkout is down"}' }
        @{ Name = 'Azure Monitor''s older schema'; Id = 'AlertFormatUnknown'; Body = '{"schemaId": "AzureMonitorMetricAlert", "data": {}}' }
        @{ Name = 'a cut-off PowerShell 7 WebhookData'; Id = 'AlertPayloadInvalid'; Body = '{WebhookName:w,RequestBody:{"schemaId":"azureMonitorCommonAlertSchema","data":{' }
    ) {
        $state = New-TestState
        $errors = @()

        $null = ConvertFrom-RollbackAlert $Body -ErrorAction SilentlyContinue -ErrorVariable errors | Send-RollbackSignal -StateDirectory $state

        @($errors.FullyQualifiedErrorId) | Should -Be "$Id$fqid"
        Get-SignalFile $state | Should -HaveCount 0
        { ConvertFrom-RollbackAlert $Body -ErrorAction Stop } | Should -Throw -ErrorId "$Id$fqid"
    }

    It 'refuses an unsigned payload, and one signed with another secret, when -SigningSecret is given' {
        $state = New-TestState
        $secret = ConvertTo-SecureString 'alert-signing-secret' -AsPlainText -Force
        $body = Get-Sample 'alertmanager-resolved.json'
        $hmac = [System.Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes('another-secret'))
        $wrong = 'sha256=' + [Convert]::ToHexString($hmac.ComputeHash([Text.Encoding]::UTF8.GetBytes($body))).ToLowerInvariant()
        $errors = @()

        $null = ConvertFrom-RollbackAlert $body -SigningSecret $secret -ErrorAction SilentlyContinue -ErrorVariable errors | Send-RollbackSignal -StateDirectory $state
        $null = ConvertFrom-RollbackAlert $body -Header @{ 'X-Hub-Signature-256' = $wrong } -SigningSecret $secret -ErrorAction SilentlyContinue -ErrorVariable +errors |
            Send-RollbackSignal -StateDirectory $state

        @($errors.FullyQualifiedErrorId) | Should -Be "AlertSignatureInvalid$fqid", "AlertSignatureInvalid$fqid"
        $errors[0].Exception.Message | Should -Match 'not signed'
        $errors[1].Exception.Message | Should -Match 'does not match'
        Get-SignalFile $state | Should -HaveCount 0
    }

    It 'accepts a payload signed with the secret, in the header or in the WebhookData''s RequestHeader' {
        $secret = ConvertTo-SecureString 'alert-signing-secret' -AsPlainText -Force
        $body = Get-Sample 'alertmanager-resolved.json'
        $hmac = [System.Security.Cryptography.HMACSHA256]::new([Text.Encoding]::UTF8.GetBytes('alert-signing-secret'))
        $signature = 'sha256=' + [Convert]::ToHexString($hmac.ComputeHash([Text.Encoding]::UTF8.GetBytes($body))).ToLowerInvariant()

        (ConvertFrom-RollbackAlert $body -Header @{ 'X-Hub-Signature-256' = $signature } -SigningSecret $secret -ErrorAction Stop).Subject | Should -Be 'plan:checkout'
        $webhookData = [pscustomobject]@{ WebhookName = 'w'; RequestBody = $body; RequestHeader = [pscustomobject]@{ 'X-Signature' = $signature.Substring(7) } }
        (ConvertFrom-RollbackAlert -WebhookData $webhookData -SigningSecret $secret -ErrorAction Stop).Subject | Should -Be 'plan:checkout'
    }

    It 'gives a non-terminating AlertTargetNotMapped for an alert nothing maps, and converts the others' {
        $errors = @()

        $signals = @(Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -ErrorAction SilentlyContinue -ErrorVariable errors)

        $signals.Subject | Should -Be 'plan:checkout'
        $errors | Should -HaveCount 1
        $errors[0].FullyQualifiedErrorId | Should -Be "AlertTargetNotMapped$fqid"
        $errors[0].Exception.Message | Should -Match 'KubeDeploymentRolloutStuck'
        $errors[0].Exception.Message | Should -Match 'deployment=web'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        { Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -ErrorAction Stop } | Should -Throw -ErrorId "AlertTargetNotMapped$fqid"
    }

    It 'stops before reading anything on a -Map selector, target or -SignalName that cannot be used' {
        { Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -Map @{ 'service' = 'plan:checkout' } } | Should -Throw -ErrorId "AlertMapInvalid$fqid"
        { Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -Map @{ 'service=checkout' = "plan:checkout`nx" } } | Should -Throw -ErrorId "AlertMapInvalid$fqid"
        { Get-Sample 'alertmanager-firing.json' | ConvertFrom-RollbackAlert -TargetKey 'plan:x' -SignalName 'deployment failed' } | Should -Throw -ErrorId "SignalNameInvalid$fqid"
    }

    It 'redacts secrets in what it outputs' {
        $body = (Get-Sample 'alertmanager-resolved.json').Replace('error ratio 0.41 > 0.2', 'probe of https://probe:pr0be-pass@checkout.example/health failed').Replace('"job": "checkout",', '"job": "checkout", "api_token": "tok-label-123",')

        $signal = ConvertFrom-RollbackAlert $body

        ($signal.Data | ConvertTo-Json -Depth 5) | Should -Not -Match 'pr0be-pass|tok-label-123'
        $signal.Data.labels.api_token | Should -Be '***REDACTED***'
    }
}

Describe 'A real Alertmanager''s webhook' -Skip:$skipAlertmanager {
    BeforeAll {
        $received = Join-Path $TestDrive 'received'
        $receiver = Start-TestReceiver $received
        $receiverPort = $receiver.Port

        $port = Get-FreePort
        $config = Join-Path $TestDrive 'alertmanager.yml'
        Set-Content $config @"
route:
  receiver: rollback
  group_by: ['service']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: rollback
    webhook_configs:
      - url: http://127.0.0.1:$receiverPort/alerts
        send_resolved: true
"@
        $storage = Join-Path $TestDrive 'alertmanager-data'
        # Its log goes to files, to be shown when a notification does not arrive (it logs each failed delivery).
        $managerLog = Join-Path $TestDrive 'alertmanager.log'
        $alertmanager = Start-Process (Get-Command prometheus-alertmanager).Source -PassThru -RedirectStandardError $managerLog -RedirectStandardOutput "$managerLog.out" `
            -ArgumentList "--config.file=$config", "--storage.path=$storage", "--web.listen-address=127.0.0.1:$port", '--cluster.listen-address=', '--log.level=debug'
        $api = "http://127.0.0.1:$port"
        $deadline = [DateTime]::UtcNow.AddSeconds(20)
        while ([DateTime]::UtcNow -lt $deadline) {
            try { if ((Invoke-WebRequest "$api/-/ready" -TimeoutSec 1 -SkipHttpErrorCheck).StatusCode -eq 200) { break } } catch { }
            Start-Sleep -Milliseconds 100
        }

        # Waits for the n-th POST and returns its body (text) and headers.
        function Wait-Post([int] $n) {
            $name = '{0:000}-alerts.json' -f $n
            $file = Join-Path $received $name
            $until = [DateTime]::UtcNow.AddSeconds(30)
            while (-not (Test-Path $file) -and [DateTime]::UtcNow -lt $until) { Start-Sleep -Milliseconds 100 }
            if (-not (Test-Path $file)) {
                $held = try { Invoke-RestMethod "$api/api/v2/alerts" -TimeoutSec 5 | ConvertTo-Json -Compress -Depth 4 } catch { $_.Exception.Message }
                $log = Get-Content $managerLog, "$managerLog.out" -ErrorAction SilentlyContinue | Select-Object -Last 25
                throw ("Alertmanager's notification $n did not reach the receiver in 30 s. Received: $((Get-ChildItem $received).Name -join ', '). " +
                    "Receiver job: $($receiver.Job.State) $($receiver.Job.Error | Select-Object -First 1). Alertmanager alerts: $held`nAlertmanager's log:`n$($log -join "`n")")
            }
            Start-Sleep -Milliseconds 100
            [pscustomobject]@{
                Body    = [Text.Encoding]::UTF8.GetString([IO.File]::ReadAllBytes($file))
                Headers = Get-Content -Raw (Join-Path "$received.headers" $name) | ConvertFrom-Json -AsHashtable
            }
        }

        function Send-Alert([string] $endsAt) {
            $alert = @{
                labels      = @{ alertname = 'CheckoutHighErrorRate'; service = 'checkout'; severity = 'critical' }
                annotations = @{ summary = 'error ratio 0.41 > 0.2' }
                startsAt    = $startsAt
            }
            if ($endsAt) { $alert.endsAt = $endsAt }
            $null = Invoke-RestMethod "$api/api/v2/alerts" -Method Post -ContentType 'application/json' -Body (ConvertTo-Json -InputObject @($alert) -Depth 5)
        }
        $startsAt = [DateTime]::UtcNow.AddSeconds(-5).ToString('o')
    }

    AfterAll {
        if ($alertmanager -and -not $alertmanager.HasExited) { $alertmanager.Kill(); $alertmanager.WaitForExit() }
        Stop-TestReceiver $receiver
    }

    It 'converts the firing and then the resolved notification of the same alert, and records both' {
        $state = New-TestState

        Send-Alert
        $firing = Wait-Post 1
        Send-Alert -endsAt ([DateTime]::UtcNow.ToString('o'))
        $resolved = Wait-Post 2

        $fired = ConvertFrom-RollbackAlert $firing.Body -Header $firing.Headers -ErrorAction Stop
        $ended = ConvertFrom-RollbackAlert $resolved.Body -Header $resolved.Headers -ErrorAction Stop
        $fired.Data.source_format | Should -Be 'Alertmanager'
        $fired.Name | Should -Be 'HEALTH_CHECK_FAILED'
        $fired.Subject | Should -Be 'plan:checkout'
        $fired.Data.act | Should -BeTrue
        $fired.Data.reason | Should -Be 'Alertmanager alert CheckoutHighErrorRate firing: error ratio 0.41 > 0.2'
        $fired.Data.group_key | Should -Be '{}:{service="checkout"}'
        $fired.Data.fingerprint | Should -Match '^[0-9a-f]{16}$'
        $ended.Data.act | Should -BeFalse
        $ended.Data.status | Should -Be 'resolved'
        $ended.Data.fingerprint | Should -Be $fired.Data.fingerprint
        $ended.Data.ends_at | Should -Not -BeNullOrEmpty
        $null = $fired, $ended | Send-RollbackSignal -StateDirectory $state
        (Get-RollbackSignal -StateDirectory $state -TargetKey plan:checkout).Data.status | Should -Be 'firing', 'resolved'
    }
}
