//! Scenario files, Istio objects (DestinationRule, VirtualService, ServiceEntry), Istio version profiles and expectations.
