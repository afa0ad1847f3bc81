# storm/ (included by the top-level Makefile): the tailsafe-storm Maven module (Java 17; its jars
# come from Maven Central). Its JUnit reports feed make test's closing line. `install` puts it in
# the local Maven repository, where the example topology (examples/storm-weblog, a shaded
# topology jar) finds it.
.PHONY: storm-test storm-home storm-jars

MVN ?= mvn
STORM_REPORTS := storm/target/surefire-reports
STORM_WEBLOG_JAR := examples/storm-weblog/target/storm-weblog-0.1.0-topology.jar
# A storm.home for the tests, the demo and the benchmark (build/storm-home: Storm's released jars
# from Maven Central, storm/home/pom.xml) and the Nimbus client they drive it with (storm/admin).
STORM_HOME := build/storm-home
storm-home: deps
	@mkdir -p build
	$(Q)$(MVN) -B -q -f storm/home/pom.xml package -Dstorm.home.dir=$(abspath $(STORM_HOME)) > build/storm-home.log 2>&1 && \
	  $(MVN) -B -q -f storm/admin/pom.xml package >> build/storm-home.log 2>&1 || { tail -n 80 build/storm-home.log; exit 1; }
# The same jars without the JUnit run (the sanitizer pass of make test needs the jars only).
storm-jars: deps
	@mkdir -p $(OUT)
	$(Q)$(MVN) -B -q -f storm/pom.xml install -DskipTests > $(OUT)/storm-mvn.log 2>&1 && \
	  $(MVN) -B -q -f examples/storm-weblog/pom.xml package >> $(OUT)/storm-mvn.log 2>&1 || { tail -n 80 $(OUT)/storm-mvn.log; exit 1; }
# Maven's own output goes to $(OUT)/storm-mvn.log, shown when the build or a test fails.
storm-test: deps
	@rm -rf $(STORM_REPORTS); mkdir -p $(OUT)
	$(Q)$(MVN) -B -q -f storm/pom.xml install javadoc:javadoc > $(OUT)/storm-mvn.log 2>&1 && \
	  $(MVN) -B -q -f examples/storm-weblog/pom.xml package >> $(OUT)/storm-mvn.log 2>&1; rc=$$?; \
	  if [ $$rc != 0 ]; then tail -n 80 $(OUT)/storm-mvn.log; fi; \
	  scripts/test-report.py storm $(STORM_REPORTS)/TEST-*.xml; exit $$rc
