BeforeDiscovery {
    # Debian's aiosmtpd is the real SMTP server the email test sends to; without it that test skips, except in CI.
    $skipSmtp = $null -eq (& /usr/bin/python3 -c 'import aiosmtpd; print(1)' 2>$null) -and $env:DEPLOYMENT_ROLLBACK_REQUIRE_INTEGRATION -ne '1'
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-TestModulePath) -Force

    function New-ConfigTarget([string] $root) {
        New-Item -ItemType Directory -Force $root | Out-Null
        $config = Join-Path $root 'app.yml'
        Set-Content $config 'release: 1'
        Set-Content (Join-Path $root 'app.previous.yml') 'release: 0'
        $config
    }
}

Describe 'Notifications of a rollback to Teams, Slack, a JSON webhook and email' {
    BeforeAll {
        $receiver = Start-TestReceiver (Join-Path $TestDrive 'received')
        $base = "http://127.0.0.1:$($receiver.Port)"
    }

    AfterAll { Stop-TestReceiver $receiver }

    BeforeEach {
        Get-ChildItem $receiver.Folder | Remove-Item
        $root = Join-Path $TestDrive ([Guid]::NewGuid().ToString('N').Substring(0, 8))
        $state = Join-Path $root 'state'
    }

    It 'posts the start and the end as a Teams Adaptive Card, Slack Block Kit and a JSON document, and ticks the checklist' {
        $config = New-ConfigTarget $root
        # The webhooks' secrets are in their paths and queries, as in real Teams and Slack addresses.
        $notify = "teams+$base/teams/workflows/abc?sig=teams-secret-sig", "slack+$base/slack/services/T000/B000/slack-secret-token", "$base/json/hook?token=json-secret"
        $result = Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -SmokeTest { $true } -NotifyUri $notify -StateDirectory $state -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'

        $files = Get-ChildItem $receiver.Folder | Sort-Object Name
        $files.Name -replace '^\d+-', '' | Should -Be @('teams.json', 'slack.json', 'json.json', 'teams.json', 'slack.json', 'json.json')
        $teams = Get-Content -Raw $files[3].FullName | ConvertFrom-Json
        $teams.type | Should -Be 'message'
        $teams.attachments[0].contentType | Should -Be 'application/vnd.microsoft.card.adaptive'
        $teams.attachments[0].content.type | Should -Be 'AdaptiveCard'
        $teams.attachments[0].content.body[0].text | Should -Match '^ROLLBACK_COMPLETE: config:'
        ($teams.attachments[0].content.body[1].facts | Where-Object title -EQ 'Outcome').value | Should -Be 'Succeeded'
        $slack = Get-Content -Raw $files[4].FullName | ConvertFrom-Json
        $slack.text | Should -Match '^ROLLBACK_COMPLETE'
        $slack.blocks[0].type | Should -Be 'header'
        $slack.blocks[1].type | Should -Be 'section'
        $slack.blocks[1].fields[0].type | Should -Be 'mrkdwn'
        $slack.blocks[1].fields.Count | Should -BeLessOrEqual 10
        (Get-Content -Raw $files[0].FullName | ConvertFrom-Json).attachments[0].content.body[1].facts[0].value | Should -Be 'started'
        (Get-Content -Raw $files[5].FullName | ConvertFrom-Json).signal | Should -Be 'ROLLBACK_COMPLETE'

        $checklist = $result | Get-RollbackChecklist
        ($checklist | Where-Object Item -EQ 'Notified team (if production)').Done | Should -BeTrue
        ($checklist | Where-Object Item -EQ 'Team notified of resolution').Done | Should -BeTrue
        # The addresses' secrets are nowhere in the state.
        $stateText = (Get-ChildItem -Recurse -File $state | Get-Content -Raw) -join "`n"
        foreach ($secret in 'teams-secret-sig', 'slack-secret-token', 'json-secret') { $stateText | Should -Not -Match $secret }
    }

    It 'tells people of a plan once at its start and once at its end, naming every component, not of each component' {
        $svc = Join-Path $TestDrive 'notify-plan'
        New-Item -ItemType Directory -Force $svc | Out-Null
        foreach ($name in 'a', 'b') { Set-Content (Join-Path $svc "$name.yml") 'v: 1' }
        $plan = @{ Service = 'notify-plan'; Components = @(@{ Name = 'alpha'; Strategy = 'Config'; Path = "$svc/a.yml" }, @{ Name = 'beta'; Strategy = 'Config'; Path = "$svc/b.yml" }); SmokeTest = { $true } }
        $planState = Join-Path $svc 'state'
        $null = Test-RollbackHealth -Plan $plan -RecordVerified -StateDirectory $planState
        foreach ($name in 'a', 'b') { Set-Content (Join-Path $svc "$name.yml") 'v: 2' }
        $result = Invoke-Rollback -Plan $plan -All -NotifyUri "$base/json/plan" -StateDirectory $planState -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $sent = @(Get-ChildItem $receiver.Folder | Sort-Object Name | Get-Content -Raw | ConvertFrom-Json)
        $sent.signal | Should -Be @('ROLLBACK_STARTED', 'ROLLBACK_COMPLETE')
        $sent.subject | Sort-Object -Unique | Should -Be 'plan:notify-plan'
        $sent[1].title | Should -Match 'alpha'
        $sent[1].title | Should -Match 'beta'
    }

    It 'warns when a webhook cannot be reached, records it, and the rollback still succeeds' {
        $config = New-ConfigTarget $root
        $closed = "http://127.0.0.1:$(Get-FreePort)/hook?token=unreachable-secret"
        $result = Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -SmokeTest { $true } -NotifyUri $closed -StateDirectory $state -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue
        $result.Outcome | Should -Be 'Succeeded'
        ($warnings -join "`n") | Should -Match 'could not be sent to webhook http://127\.0\.0\.1:\d+/\.\.\.'
        ($warnings -join "`n") | Should -Not -Match 'unreachable-secret'
        ($result | Get-RollbackChecklist | Where-Object Item -EQ 'Team notified of resolution').Done | Should -BeFalse
    }

    It 'takes the addresses from DEPLOYMENT_ROLLBACK_NOTIFY, and refuses a bad one before anything changes' {
        $config = New-ConfigTarget $root
        $env:DEPLOYMENT_ROLLBACK_NOTIFY = "webhook+$base/env/hook"
        try { $null = Send-RollbackSignal DEPLOYMENT_FAILED -TargetKey "config:$config" -Reason 'canary failed' -StateDirectory $state }
        finally { Remove-Item Env:DEPLOYMENT_ROLLBACK_NOTIFY }
        $sent = Get-ChildItem $receiver.Folder | Get-Content -Raw | ConvertFrom-Json
        $sent.signal | Should -Be 'DEPLOYMENT_FAILED'
        $sent.reason | Should -Be 'canary failed'

        { Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -NotifyUri 'smtp://mail.example.com' -StateDirectory $state -Confirm:$false } |
            Should -Throw -ErrorId 'NotifyUriInvalid,DeploymentRollback.Commands.InvokeRollbackCommand'
        # A refused address is shown by its kind and host: its path may be the webhook's secret.
        { Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -NotifyUri 'ftp://hooks.example.com/hook/path-secret-611' -StateDirectory $state -Confirm:$false } |
            Should -Throw -ExpectedMessage "'ftp://hooks.example.com/...' cannot be notified*"
        Get-Content $config | Should -Be 'release: 1'
    }
}

Describe 'Notification by email through a real SMTP server' -Skip:$skipSmtp {
    BeforeAll {
        $port = Get-FreePort
        $maildir = Join-Path $TestDrive 'maildir'
        $smtp = Start-Process /usr/bin/python3 -ArgumentList '-m', 'aiosmtpd', '-n', '-l', "127.0.0.1:$port", '-c', 'aiosmtpd.handlers.Mailbox', $maildir -PassThru
        $deadline = [DateTime]::UtcNow.AddSeconds(15)
        while ([DateTime]::UtcNow -lt $deadline) {
            try { $client = [Net.Sockets.TcpClient]::new('127.0.0.1', $port); $client.Dispose(); break } catch { Start-Sleep -Milliseconds 100 }
        }
    }

    AfterAll { if ($smtp -and -not $smtp.HasExited) { Stop-Process -Id $smtp.Id -Force } }

    It 'mails the end of the rollback to every recipient with the incident report attached' {
        $root = Join-Path $TestDrive 'mail'
        $config = New-ConfigTarget $root
        $result = Invoke-Rollback -Strategy Config -Path $config -PreviousPath app.previous.yml -SmokeTest { $true } -Reason 'error spike after deploy' `
            -NotifyUri "smtp://127.0.0.1:$port/?to=oncall@example.com,lead@example.com&from=rollback@example.com" -StateDirectory (Join-Path $root 'state') -Confirm:$false
        $result.Outcome | Should -Be 'Succeeded'
        $parse = @'
import email, mailbox, sys, json
out = []
for key, message in mailbox.Maildir(sys.argv[1], create=False).items():
    parts = [(p.get_filename(), p.get_payload(decode=True).decode("utf-8", "replace")) for p in message.walk() if p.get_filename()]
    out.append({"subject": message["Subject"], "to": message["To"], "from": message["From"], "attachments": [{"name": n, "text": t} for n, t in parts]})
print(json.dumps(out))
'@
        $mails = & /usr/bin/python3 -c $parse $maildir | ConvertFrom-Json
        $mails | Should -HaveCount 2
        $end = $mails | Where-Object subject -Match 'ROLLBACK_COMPLETE'
        $end.to | Should -Match 'oncall@example.com' -Because 'every recipient is on the mail'
        $end.to | Should -Match 'lead@example.com'
        $end.from | Should -Match 'rollback@example.com'
        $end.attachments.name | Should -Be @("incident-$($result.AttemptId).html", "incident-$($result.AttemptId).md")
        $end.attachments[0].text | Should -Match '<svg'
        $end.attachments[0].text | Should -Match 'error spike after deploy'
        $end.attachments[0].text | Should -Not -Match '<script'
        $end.attachments[1].text | Should -Match '# Incident report: Config rollback'
        $end.attachments[1].text | Should -Match 'error spike after deploy'
        ($mails | Where-Object subject -Match 'ROLLBACK_STARTED').attachments | Should -BeNullOrEmpty
    }
}
