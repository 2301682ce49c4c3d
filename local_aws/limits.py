"""The AWS quotas the sandbox enforces where AWS does, each declared once with where it comes from."""

from __future__ import annotations

from ingest_to_influxdb.constants import MAX_PAYLOAD_BYTES

# "The payload for every PUBLISH message is limited to 128 KB. The AWS IoT service will reject messages larger
# than this size." (AWS IoT Core message broker quotas); IoT Core closes the publishing connection.
IOT_MAX_PAYLOAD_BYTES = MAX_PAYLOAD_BYTES
IOT_MAX_TOPIC_BYTES = 256  # "Topic size": the UTF-8 bytes of a topic name
# The most a PUBLISH packet of a largest payload takes besides it: fixed header (1 byte, and the remaining length
# in at most 4), the topic (its 2-byte length and the topic), the packet id (2), and MQTT 5 properties (1 KiB
# for a content type, correlation data and a few user properties).
MQTT_PUBLISH_OVERHEAD_BYTES = 1 + 4 + 2 + IOT_MAX_TOPIC_BYTES + 2 + 1024
# The broker's `max_packet_size`: a packet that can carry IoT Core's largest payload passes, a bigger one is
# refused by closing the connection (mosquitto.conf(5)). A payload a little over the limit on a short topic still
# fits: the function rejects it (too_large); the devices' endpoint (local_aws/iot/endpoint.py) checks the payload
# itself, exactly.
MQTT_MAX_PACKET_BYTES = IOT_MAX_PAYLOAD_BYTES + MQTT_PUBLISH_OVERHEAD_BYTES

# Lambda's Invoke API: "For synchronous invocations, the maximum payload size is 6 MB. For asynchronous
# invocations, the maximum payload size is 1 MB." (InvokeAsync, deprecated, kept 256 KB.) An IoT rule's Lambda
# action invokes asynchronously; an event source mapping's batch is a synchronous invocation.
LAMBDA_ASYNC_MAX_PAYLOAD_BYTES = 1024 * 1024
LAMBDA_SYNC_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

# The RDS Data API (Aurora User Guide, "Limitations"; API reference, BatchExecuteStatement): "the maximum size of
# the HTTP request submitted through the Data API is 4 MiB"; "The response size limit is 1 MiB"; a call's statement
# stops after 45 seconds unless continueAfterTimeout; "each transactional call runs within three minutes of the
# previous one" or the transaction expires (troubleshooting).
DATA_API_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DATA_API_MAX_RESPONSE_BYTES = 1024 * 1024
DATA_API_STATEMENT_SECONDS = 45
DATA_API_TRANSACTION_IDLE_SECONDS = 180
