"""The sandbox reads a scenario's `stack_change` text the way a change set lists a stack update."""

from __future__ import annotations

from bot.sandbox.aws.stack_changes import PropertyEdit, ResourceEdit, parse_stack_change, typed

MEDIA = """Stack media-resize-prod UPDATE_COMPLETE (change set cap-lambda-concurrency-2291, by ci-deployer)
AWS::Lambda::Function ImageResizeFunction: Modify
  ReservedConcurrentExecutions: 200 -> 20
Description: "cap concurrency so a runaway batch resize cannot starve the account's Lambda pool"
"""


def test_a_modified_property_with_its_values_the_change_set_and_description() -> None:
    sc = parse_stack_change(MEDIA)
    assert sc.explicit
    assert sc.resources == (
        ResourceEdit(
            "AWS::Lambda::Function",
            "ImageResizeFunction",
            "Modify",
            (PropertyEdit("ReservedConcurrentExecutions", "200", "20"),),
        ),
    )
    assert sc.change_set_name == "cap-lambda-concurrency-2291"
    assert (
        sc.description == "cap concurrency so a runaway batch resize cannot starve the account's Lambda pool"
    )


def test_several_resources_actions_arrows_and_parameters() -> None:
    text = """Replace AWS::ECS::TaskDefinition ApiTask
      Memory: 2048 → 1024
      ContainerDefinitions[0].Image: api:1.4 => api:1.5
    AWS::SQS::Queue DeadLetters: Add
      MessageRetentionPeriod: 1209600
    AWS::IAM::Role OldRole: Delete
    AWS::AutoScaling::AutoScalingGroup WorkerGroup (update)
      MaxSize: 12 -> 4
    Parameter ImageTag: 1.4 -> 1.5
    """
    sc = parse_stack_change(text)
    by = {r.logical_id: r for r in sc.resources}
    assert [r.action for r in sc.resources] == ["Modify", "Add", "Remove", "Modify"]
    assert by["ApiTask"].replacement and by["ApiTask"].properties == (
        PropertyEdit("Memory", "2048", "1024"),
        PropertyEdit("ContainerDefinitions[0].Image", "api:1.4", "api:1.5"),
    )
    assert by["DeadLetters"].properties == (PropertyEdit("MessageRetentionPeriod", None, "1209600"),)
    assert by["OldRole"].properties == () and not by["WorkerGroup"].replacement
    assert by["WorkerGroup"].properties == (PropertyEdit("MaxSize", "12", "4"),)
    assert sc.parameters == (PropertyEdit("ImageTag", "1.4", "1.5"),)


def test_text_that_names_no_resource_is_a_code_release() -> None:
    sc = parse_stack_change(
        "LaunchTemplate checkout-api-lt version 14 -> 15: add amazon-cloudwatch-agent.json"
    )
    assert not sc.explicit and sc.resources == ()
    assert sc.description.startswith("LaunchTemplate checkout-api-lt version 14 -> 15")


def test_values_as_a_template_holds_them() -> None:
    assert typed("20") == 20 and typed("true") is True and typed("db.r6g.large") == "db.r6g.large"
    assert typed(None) is None
    assert parse_stack_change("AWS::SQS::Queue Q: Modify\n  RedrivePolicy: none -> x").resources[
        0
    ].properties[0] == PropertyEdit("RedrivePolicy", None, "x")


def test_a_sentence_is_read_for_the_properties_it_names_on_the_services_own_resource() -> None:
    sc = parse_stack_change(
        "ReservedConcurrentExecutions on LedgerFunction lowered from 100 to 10 (cost)", "lambda"
    )
    assert sc.explicit and sc.resources == (
        ResourceEdit(
            "AWS::Lambda::Function",
            "Function",
            "Modify",
            (PropertyEdit("ReservedConcurrentExecutions", "100", "10"),),
        ),
    )
    env = parse_stack_change("set DB_HOST to db-2.internal (was db-1.internal)", "ecs").resources[0]
    assert env.type == "AWS::ECS::TaskDefinition"
    assert env.properties == (
        PropertyEdit("ContainerDefinitions[0].Environment.DB_HOST", "db-1.internal", "db-2.internal"),
    )


def test_prose_about_alarms_and_logs_is_not_put_on_the_service_and_a_release_stays_a_release() -> None:
    sc = parse_stack_change(
        "lowered PricingHigh5xxAlarm Threshold from 5 to 2 percent and EvaluationPeriods 5 -> 3; "
        "set /ecs/pricing log group RetentionInDays 90 -> 30.",
        "ecs",
    )
    assert [r.type for r in sc.resources] == ["AWS::CloudWatch::Alarm", "AWS::Logs::LogGroup"]
    assert sc.resources[0].properties == (
        PropertyEdit("Threshold", "5", "2"),
        PropertyEdit("EvaluationPeriods", "5", "3"),
    )
    for release in (
        "Deploy 2.4.1 (ImageTag 2.4.0 -> 2.4.1)",
        "Stack 1 -> 2",
        "LaunchTemplate lt version 14 -> 15",
    ):
        assert not parse_stack_change(release, "ecs").explicit, release


def test_console_style_listings_and_template_diffs() -> None:
    text = """recommendations-prod: change set "rightsizing-q3" executed by olu
    ~ RecsTaskDefinition (AWS::ECS::TaskDefinition) requires replacement
        Memory: "4096" -> "2048"
    Modify  RecsService  AWS::ECS::Service  Replacement: False
        TaskDefinition:
          recs:31 -> recs:32
    RecsFunction (AWS::Lambda::Function), Replacement: False
      Environment.Variables:
    -   TABLE_REGION: us-east-1
    +   TABLE_REGION: !Ref TableRegion      # resolved: us-west-2
        TABLE_NAME: recs                    # unchanged
    """
    by = {r.logical_id: r for r in parse_stack_change(text, "ecs").resources}
    assert by["RecsTaskDefinition"].replacement and by["RecsTaskDefinition"].properties == (
        PropertyEdit("Memory", "4096", "2048"),
    )
    assert by["RecsService"].properties == (PropertyEdit("TaskDefinition", "recs:31", "recs:32"),)
    assert by["RecsFunction"].properties == (
        PropertyEdit("Environment.Variables.TABLE_REGION", "us-east-1", "us-west-2"),
    )
    tags = parse_stack_change(
        "Tags only, no property changes:\n  Api (AWS::ECS::Service), ApiLogs (AWS::Logs::LogGroup)"
    )
    assert [(r.logical_id, r.properties) for r in tags.resources] == [("Api", ()), ("ApiLogs", ())]


def test_a_stack_parameter_written_as_a_path() -> None:
    sc = parse_stack_change(
        "Stack recs-prod: UPDATE_COMPLETE\n  Parameters.FeatureStoreUrl: https://a -> https://b\n"
    )
    assert sc.parameters == (PropertyEdit("FeatureStoreUrl", "https://a", "https://b"),)
